import FuzzSupport
import PareCore
import PareIO
import PareTrain

/// A training checkpoint (`last.safetensors`) as `pare train --resume` reads it: the model,
/// the run's state and the optimizer's state, which the configuration's optimizer loads.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let url = FuzzFile.write(start, count, suffix: ".safetensors")
    guard let (graph, checkpoint, optimizerState) = try? TrainingCheckpoint.read(from: url),
          let checkpoint, (try? checkpoint.configuration.validate()) != nil else { return 0 }
    let configuration = checkpoint.configuration
    let phase = configuration.phase(ofEpoch: max(checkpoint.completedEpochs - 1, 0)).index
    let settings = configuration.phaseSettings(phase)
    let optimizer = settings.optimizer.make(settings)
    _ = try? optimizer.loadState(optimizerState)
    _ = try? graph.trainableParameterCount()
    return 0
}
