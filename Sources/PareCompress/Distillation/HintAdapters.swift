import PareCore

/// The training form of a student with feature hints, and back.
///
/// For hint k, a 1×1 convolution `hint.k.adapter` (student channels → teacher channels, with
/// bias; Kaiming-initialised from the seed, or the identity: ``HintInitialisation``) reads the student node, and its output becomes
/// graph output k + 1 after the logits: the trainer then gets a gradient for it from the
/// objective and trains the adapter with the student. ``student(fromTraining:)`` drops the
/// adapters again; nothing else of the student changes.
public enum HintAdapters {
    /// The name prefix of adapter nodes (and their parameters).
    public static let prefix = "hint."

    /// `student` with one adapter output per hint. `teacherShapes` are the per-sample output
    /// shapes of the hints' teacher nodes. Throws ``DistillationError/invalidHint(hint:reason:)``
    /// for a node the student lacks, a feature map whose height and width differ from the teacher's,
    /// or identity adapters between different channel counts.
    public static func trainingGraph(student: Graph, hints: [FeatureHint], teacherShapes: [Shape], seed: UInt64,
                                     initialisation: HintInitialisation = .kaiming) throws -> Graph {
        guard !hints.isEmpty else { return student }
        precondition(hints.count == teacherShapes.count, "one teacher shape per hint")
        let shapes = try student.inferShapes()
        var editor = try GraphEditor(student)
        for index in student.nodes.indices { try editor.keep(index) }
        var outputs = try student.outputs.map { try editor.value(of: $0) }
        var generator = SeededGenerator(seed: seed)
        for (k, hint) in hints.enumerated() {
            guard let node = student.nodes.firstIndex(where: { $0.name == hint.studentNode }) else {
                throw DistillationError.invalidHint(hint: "\(hint)", reason: "the student has no node '\(hint.studentNode)'")
            }
            let studentShape = shapes[node], teacherShape = teacherShapes[k]
            guard studentShape.rank == 3, teacherShape.rank == 3 else {
                throw DistillationError.invalidHint(hint: "\(hint)", reason: "hints match feature maps [C, H, W]; the outputs are "
                                                    + "\(teacherShape) (teacher) and \(studentShape) (student)")
            }
            guard studentShape[1] == teacherShape[1], studentShape[2] == teacherShape[2] else {
                throw DistillationError.invalidHint(hint: "\(hint)", reason: "the teacher's map is \(teacherShape), the student's "
                                                    + "\(studentShape): height and width must agree")
            }
            let weightShape = Shape([teacherShape[0], studentShape[0], 1, 1])
            let weight: Tensor
            switch initialisation {
            case .kaiming:
                // torchvision's conv initialisation: Kaiming normal, fan-out, ReLU gain; zero bias.
                weight = Tensor.randomNormal(weightShape, std: (2 / Float(teacherShape[0])).squareRoot(), generator: &generator)
            case .identity:
                guard studentShape[0] == teacherShape[0] else {
                    throw DistillationError.invalidHint(hint: "\(hint)", reason: "an identity adapter needs as many student channels as "
                                                        + "teacher channels; they are \(studentShape[0]) and \(teacherShape[0])")
                }
                weight = Tensor(zeros: weightShape)
                for c in 0..<studentShape[0] { weight.floats[c * studentShape[0] + c] = 1 }
            }
            outputs.append(editor.add("\(prefix)\(k).adapter",
                                      op: .conv2d(Conv2dAttributes(outChannels: teacherShape[0], kernelSize: [1, 1], bias: true)),
                                      inputs: [try editor.value(of: node)],
                                      parameters: ["weight": weight, "bias": Tensor(zeros: Shape([teacherShape[0]]))]))
        }
        return try editor.finish(outputs: outputs)
    }

    /// The student without its adapters: every node but those named ``prefix``…, the first
    /// output only.
    public static func student(fromTraining graph: Graph) throws -> Graph {
        guard graph.outputs.count > 1 else { return graph }
        var editor = try GraphEditor(graph)
        for (index, node) in graph.nodes.enumerated() where !node.name.hasPrefix(prefix) { try editor.keep(index) }
        return try editor.finish(outputs: [try editor.value(of: graph.outputs[0])])
    }
}
