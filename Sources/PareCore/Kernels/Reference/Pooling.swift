// Reference pooling (PyTorch `MaxPool2d`, `AvgPool2d`, `AdaptiveAvgPool2d(1)`). Output sizes follow
// `windowOutputSize` (ceil mode included). Padding may be asymmetric: PyTorch's rules are applied
// with `top`/`left` before the input and `bottom`/`right` after it.

/// Output height and width of a pooling window over an `height x width` input.
public func referencePool2dOutputSize(height: Int, width: Int, attributes a: Pool2dAttributes) -> (height: Int, width: Int) {
    let outHeight = windowOutputSize(input: height, kernel: a.kernelSize[0], stride: a.stride[0],
                                     padBefore: a.padding.top, padAfter: a.padding.bottom, ceilMode: a.ceilMode)
    let outWidth = windowOutputSize(input: width, kernel: a.kernelSize[1], stride: a.stride[1],
                                    padBefore: a.padding.left, padAfter: a.padding.right, ceilMode: a.ceilMode)
    return (outHeight, outWidth)
}

/// Index (into `input`) of the maximum of one max-pooling window over the plane starting at
/// `planeOffset`: padded positions never win (they are -inf), the first maximum in row-major
/// order wins ties, and a NaN wins over numbers (PyTorch: `if (val > maxval || isnan(val))`).
/// `nil` for a window that holds no input position (impossible within PyTorch's padding limits).
private func maxPoolArgmax<T: BinaryFloatingPoint>(_ input: [T], planeOffset: Int, height: Int, width: Int,
                                                   oh: Int, ow: Int, attributes a: Pool2dAttributes) -> Int? {
    let hStart = oh * a.stride[0] - a.padding.top, wStart = ow * a.stride[1] - a.padding.left
    let hLow = max(hStart, 0), hHigh = min(hStart + a.kernelSize[0], height)
    let wLow = max(wStart, 0), wHigh = min(wStart + a.kernelSize[1], width)
    if hLow >= hHigh || wLow >= wHigh { return nil }
    var best = -T.infinity
    var bestIndex = planeOffset + hLow * width + wLow
    for h in hLow..<hHigh {
        for w in wLow..<wHigh {
            let index = planeOffset + h * width + w
            if input[index] > best || input[index].isNaN {
                best = input[index]
                bestIndex = index
            }
        }
    }
    return bestIndex
}

/// `output[n, c, oh, ow]` = the maximum of the window's input positions (-inf for a window
/// holding none).
// input is (N, C, H, W); output is (N, C, OH, OW).
public func referenceMaxPool2dForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], batch: Int, channels: Int, height: Int, width: Int, attributes a: Pool2dAttributes
) {
    let (outHeight, outWidth) = referencePool2dOutputSize(height: height, width: width, attributes: a)
    precondition(input.count == batch * channels * height * width, "maxPool: input count")
    precondition(output.count == batch * channels * outHeight * outWidth, "maxPool: output count")
    for plane in 0..<(batch * channels) {
        for oh in 0..<outHeight {
            for ow in 0..<outWidth {
                let argmax = maxPoolArgmax(input, planeOffset: plane * height * width, height: height, width: width,
                                           oh: oh, ow: ow, attributes: a)
                output[(plane * outHeight + oh) * outWidth + ow] = argmax.map { input[$0] } ?? -T.infinity
            }
        }
    }
}

/// Routes each output gradient to its window's argmax (found again from `input`).
// dOutput is (N, C, OH, OW); input, dInput are (N, C, H, W).
public func referenceMaxPool2dBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dOutput: [T], input: [T], batch: Int, channels: Int, height: Int, width: Int,
    attributes a: Pool2dAttributes
) {
    let (outHeight, outWidth) = referencePool2dOutputSize(height: height, width: width, attributes: a)
    precondition(input.count == batch * channels * height * width && dInput.count == input.count, "maxPool: dInput count")
    precondition(dOutput.count == batch * channels * outHeight * outWidth, "maxPool: dOutput count")
    for plane in 0..<(batch * channels) {
        for oh in 0..<outHeight {
            for ow in 0..<outWidth {
                guard let argmax = maxPoolArgmax(input, planeOffset: plane * height * width, height: height,
                                                 width: width, oh: oh, ow: ow, attributes: a) else { continue }
                dInput[argmax] += dOutput[(plane * outHeight + oh) * outWidth + ow]
            }
        }
    }
}

/// One average-pooling window: the input positions it covers and its divisor, by PyTorch's rule.
/// The window is first clipped to the padded input (`[-top, height + bottom)`), which only
/// matters in ceil mode, where the last window may run past it; that clipped size is the
/// divisor with `countIncludePad`. Without it the divisor is the number of input positions.
/// A window holding no input position averages to 0.
private func avgPoolWindow(height: Int, width: Int, oh: Int, ow: Int, attributes a: Pool2dAttributes)
    -> (rows: Range<Int>, columns: Range<Int>, divisor: Int) {
    let hStart = oh * a.stride[0] - a.padding.top, wStart = ow * a.stride[1] - a.padding.left
    let hEnd = min(hStart + a.kernelSize[0], height + a.padding.bottom)
    let wEnd = min(wStart + a.kernelSize[1], width + a.padding.right)
    let paddedSize = (hEnd - hStart) * (wEnd - wStart)
    let hLow = max(hStart, 0), hHigh = max(min(hEnd, height), hLow)
    let wLow = max(wStart, 0), wHigh = max(min(wEnd, width), wLow)
    let inputSize = (hHigh - hLow) * (wHigh - wLow)
    return (hLow..<hHigh, wLow..<wHigh, a.countIncludePad ? paddedSize : inputSize)
}

/// `output[n, c, oh, ow]` = the sum of the window's input positions over its divisor
/// (see `countIncludePad` and ceil mode in ``Pool2dAttributes``).
// input is (N, C, H, W); output is (N, C, OH, OW).
public func referenceAvgPool2dForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], batch: Int, channels: Int, height: Int, width: Int, attributes a: Pool2dAttributes
) {
    let (outHeight, outWidth) = referencePool2dOutputSize(height: height, width: width, attributes: a)
    precondition(input.count == batch * channels * height * width, "avgPool: input count")
    precondition(output.count == batch * channels * outHeight * outWidth, "avgPool: output count")
    for plane in 0..<(batch * channels) {
        for oh in 0..<outHeight {
            for ow in 0..<outWidth {
                let window = avgPoolWindow(height: height, width: width, oh: oh, ow: ow, attributes: a)
                var sum: T = 0
                for h in window.rows {
                    for w in window.columns { sum += input[(plane * height + h) * width + w] }
                }
                let empty = window.rows.isEmpty || window.columns.isEmpty
                output[(plane * outHeight + oh) * outWidth + ow] = empty ? 0 : sum / T(window.divisor)
            }
        }
    }
}

/// Spreads each output gradient over its window's input positions, divided by the divisor.
// dOutput is (N, C, OH, OW); dInput is (N, C, H, W).
public func referenceAvgPool2dBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dOutput: [T], batch: Int, channels: Int, height: Int, width: Int, attributes a: Pool2dAttributes
) {
    let (outHeight, outWidth) = referencePool2dOutputSize(height: height, width: width, attributes: a)
    precondition(dInput.count == batch * channels * height * width, "avgPool: dInput count")
    precondition(dOutput.count == batch * channels * outHeight * outWidth, "avgPool: dOutput count")
    for plane in 0..<(batch * channels) {
        for oh in 0..<outHeight {
            for ow in 0..<outWidth {
                let window = avgPoolWindow(height: height, width: width, oh: oh, ow: ow, attributes: a)
                if window.rows.isEmpty || window.columns.isEmpty { continue }
                let d = dOutput[(plane * outHeight + oh) * outWidth + ow] / T(window.divisor)
                for h in window.rows {
                    for w in window.columns { dInput[(plane * height + h) * width + w] += d }
                }
            }
        }
    }
}

/// `output[n, c]` = the mean of `input[n, c, :]` (PyTorch `AdaptiveAvgPool2d(1)`).
// input is (N, C, S) with S = H * W; output is (N, C) (i.e. (N, C, 1, 1)).
public func referenceGlobalAvgPoolForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], batch: Int, channels: Int, spatial: Int
) {
    precondition(input.count == batch * channels * spatial && output.count == batch * channels, "globalAvgPool: count")
    for plane in 0..<(batch * channels) {
        var sum: T = 0
        for s in 0..<spatial { sum += input[plane * spatial + s] }
        output[plane] = sum / T(spatial)
    }
}

/// Spreads each output gradient evenly over its plane.
// dOutput is (N, C); dInput is (N, C, S).
public func referenceGlobalAvgPoolBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dOutput: [T], batch: Int, channels: Int, spatial: Int
) {
    precondition(dInput.count == batch * channels * spatial && dOutput.count == batch * channels, "globalAvgPool: count")
    for plane in 0..<(batch * channels) {
        for s in 0..<spatial { dInput[plane * spatial + s] += dOutput[plane] / T(spatial) }
    }
}
