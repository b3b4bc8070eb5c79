import Foundation

extension ModelSummary {
    /// The summary as torchsummary prints it, with a MACs column and Pare's totals added:
    /// one row per layer (`name (op)`, output shape with the batch as -1, parameters, MACs),
    /// then parameters, torchsummary's sizes, MACs, FLOPs, thop's total and what each counts.
    public func table() -> String {
        let quantized = isQuantized
        let header = ["Layer (type)", "Output Shape", "Param #", "MACs"] + (quantized ? ["Precision"] : [])
        let rows = layers.map { layer in
            ["\(layer.name) (\(layer.op))", "[" + ([-1] + layer.outputShape).map(String.init).joined(separator: ", ") + "]",
             groupedDigits(layer.parameters), groupedDigits(layer.operations.macs)] + (quantized ? [layer.precision] : [])
        }
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            // The layer column is left-aligned, the others right-aligned, as in torchsummary.
            let first = cells[0].padding(toLength: widths[0], withPad: " ", startingAt: 0)
            let rest = cells.indices.dropFirst().map { column in
                String(repeating: " ", count: widths[column] - cells[column].count) + cells[column]
            }
            return ([first] + rest).joined(separator: "   ")
        }
        let width = widths.reduce(0, +) + 3 * (widths.count - 1)
        let single = String(repeating: "-", count: width)
        let double = String(repeating: "=", count: width)

        var out = [single, line(header), double]
        out += rows.map(line)
        out += [double,
                "Total params: \(groupedDigits(totalParameters))",
                "Trainable params: \(groupedDigits(trainableParameters))",
                "Non-trainable params: \(groupedDigits(nonTrainableParameters))",
                "Buffers (batch-norm statistics; in the state dict, not in the counts above): \(groupedDigits(bufferElements))",
                single,
                "Input size (MB): " + twoDecimals(inputMegabytes),
                "Forward/backward pass size (MB): " + twoDecimals(forwardBackwardMegabytes),
                "Params size (MB): " + twoDecimals(parameterMegabytes),
                "Estimated Total Size (MB): " + twoDecimals(estimatedTotalMegabytes),
                single,
                "MACs (conv+linear): \(withScale(operations.macs))",
                "FLOPs (2 x MACs of conv+linear): \(withScale(flops))",
                "thop total: \(withScale(operations.thop))" + thopBreakdown()]
        if let nativeFileBytes {
            out.append("Native file (.safetensors): \(groupedDigits(nativeFileBytes)) bytes ("
                       + twoDecimals(Double(nativeFileBytes) / (1024 * 1024)) + " MB)")
        }
        out += [single,
                "Batch \(batch): shapes are per sample (-1 is the batch), sizes and operations are for the batch.",
                "MACs counts " + countingRules["macs", default: ""],
                "thop counts " + countingRules["thop", default: ""],
                "Sizes: " + countingRules["memory", default: ""],
                single]
        return out.joined(separator: "\n")
    }

    /// ` (conv2d 1,814,073,344 + batchNorm 9,934,848 + ...)`, largest first; empty when thop
    /// counts only one kind.
    private func thopBreakdown() -> String {
        guard thopByOp.count > 1 else { return "" }
        let parts = thopByOp.sorted { ($0.value, $1.key) > ($1.value, $0.key) }
            .map { "\($0.key) \(groupedDigits($0.value))" }
        return " (" + parts.joined(separator: " + ") + ")"
    }
}

/// `1234567` as `1,234,567`, as torchsummary prints counts.
public func groupedDigits(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (index, digit) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
        result.append(digit)
    }
    return value < 0 ? "-" + result : result
}

/// `1,824,033,792 (1.82 G)`: the exact count and a short form.
private func withScale(_ value: Int) -> String {
    let scales: [(Double, String)] = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")]
    guard let (scale, unit) = scales.first(where: { Double(value) >= $0.0 }) else { return groupedDigits(value) }
    return groupedDigits(value) + " (" + String(format: "%.2f", Double(value) / scale) + " " + unit + ")"
}

/// torchsummary's `%0.2f`.
private func twoDecimals(_ value: Double) -> String {
    String(format: "%.2f", value)
}
