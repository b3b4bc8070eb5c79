// Reference reflection and replication padding of H and W. input is (planes, height, width),
// output (planes, height + top + bottom, width + left + right); `planes` is batch · channels.

/// The input row or column an output position reads, `i` counted from the padded start
/// (`i - before` in the input's coordinates).
@inline(__always) func paddingSource(_ i: Int, before: Int, size: Int, mode: PaddingMode) -> Int {
    let j = i - before
    switch mode {
    case .reflect: return j < 0 ? -j : (j >= size ? 2 * (size - 1) - j : j)
    case .replicate: return min(max(j, 0), size - 1)
    }
}

public func referencePadForward<T: BinaryFloatingPoint>(output: inout [T], input: [T], planes: Int, height: Int, width: Int,
                                                        attributes a: PadAttributes) {
    let p = a.padding
    let outHeight = height + p.top + p.bottom, outWidth = width + p.left + p.right
    precondition(input.count == planes * height * width && output.count == planes * outHeight * outWidth, "pad: count")
    for plane in 0..<planes {
        for oh in 0..<outHeight {
            let ih = paddingSource(oh, before: p.top, size: height, mode: a.mode)
            for ow in 0..<outWidth {
                let iw = paddingSource(ow, before: p.left, size: width, mode: a.mode)
                output[(plane * outHeight + oh) * outWidth + ow] = input[(plane * height + ih) * width + iw]
            }
        }
    }
}

/// Each input element receives the gradients of every output position that copies it.
public func referencePadBackward<T: BinaryFloatingPoint>(dInput: inout [T], dOutput: [T], planes: Int, height: Int,
                                                         width: Int, attributes a: PadAttributes) {
    let p = a.padding
    let outHeight = height + p.top + p.bottom, outWidth = width + p.left + p.right
    precondition(dInput.count == planes * height * width && dOutput.count == planes * outHeight * outWidth, "pad: count")
    for plane in 0..<planes {
        for oh in 0..<outHeight {
            let ih = paddingSource(oh, before: p.top, size: height, mode: a.mode)
            for ow in 0..<outWidth {
                let iw = paddingSource(ow, before: p.left, size: width, mode: a.mode)
                dInput[(plane * height + ih) * width + iw] += dOutput[(plane * outHeight + oh) * outWidth + ow]
            }
        }
    }
}
