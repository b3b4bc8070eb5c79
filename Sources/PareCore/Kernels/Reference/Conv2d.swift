// Reference 2-D convolution (PyTorch `nn.Conv2d` semantics): plain loops, the test oracle for
// the fast kernels. Cross-correlation, zero padding (asymmetric allowed), stride, dilation,
// groups (grouped and depthwise), optional bias.

/// Output height and width of a convolution over an `height x width` input.
public func referenceConv2dOutputSize(height: Int, width: Int, attributes a: Conv2dAttributes) -> (height: Int, width: Int) {
    let outHeight = windowOutputSize(input: height, kernel: a.kernelSize[0], stride: a.stride[0],
                                     padBefore: a.padding.top, padAfter: a.padding.bottom, dilation: a.dilation[0])
    let outWidth = windowOutputSize(input: width, kernel: a.kernelSize[1], stride: a.stride[1],
                                    padBefore: a.padding.left, padAfter: a.padding.right, dilation: a.dilation[1])
    return (outHeight, outWidth)
}

/// `output[n, oc, oh, ow] = bias[oc] + sum over (ic, kh, kw) of
/// input[n, g * inPerGroup + ic, oh * sh - top + kh * dh, ow * sw - left + kw * dw] * weight[oc, ic, kh, kw]`
/// where `g = oc / outPerGroup` and out-of-range input positions read as zero.
// input is (N, Cin, H, W), weight is (Cout, Cin/groups, KH, KW), bias is (Cout) or nil,
// output is (N, Cout, OH, OW) and is overwritten.
public func referenceConv2dForward<T: BinaryFloatingPoint>(
    output: inout [T], input: [T], weight: [T], bias: [T]?,
    batch: Int, inChannels: Int, height: Int, width: Int, attributes a: Conv2dAttributes
) {
    let (outHeight, outWidth) = referenceConv2dOutputSize(height: height, width: width, attributes: a)
    let outChannels = a.outChannels, groups = a.groups
    let inPerGroup = inChannels / groups, outPerGroup = outChannels / groups
    let kh = a.kernelSize[0], kw = a.kernelSize[1]
    precondition(input.count == batch * inChannels * height * width, "conv2d: input count")
    precondition(weight.count == outChannels * inPerGroup * kh * kw, "conv2d: weight count")
    precondition(output.count == batch * outChannels * outHeight * outWidth, "conv2d: output count")
    precondition(bias == nil || bias!.count == outChannels, "conv2d: bias count")
    for n in 0..<batch {
        for oc in 0..<outChannels {
            let g = oc / outPerGroup
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    var sum: T = bias?[oc] ?? 0
                    for ic in 0..<inPerGroup {
                        let c = g * inPerGroup + ic
                        for i in 0..<kh {
                            let h = oh * a.stride[0] - a.padding.top + i * a.dilation[0]
                            if h < 0 || h >= height { continue }
                            for j in 0..<kw {
                                let w = ow * a.stride[1] - a.padding.left + j * a.dilation[1]
                                if w < 0 || w >= width { continue }
                                sum += input[((n * inChannels + c) * height + h) * width + w]
                                    * weight[((oc * inPerGroup + ic) * kh + i) * kw + j]
                            }
                        }
                    }
                    output[((n * outChannels + oc) * outHeight + oh) * outWidth + ow] = sum
                }
            }
        }
    }
}

/// Accumulates the gradients of ``referenceConv2dForward(output:input:weight:bias:batch:inChannels:height:width:attributes:)``
/// into `dInput`, `dWeight` and (when the convolution has a bias) `dBias`.
// dOutput is (N, Cout, OH, OW); dInput like input (N, Cin, H, W); dWeight like weight; dBias (Cout) or nil.
public func referenceConv2dBackward<T: BinaryFloatingPoint>(
    dInput: inout [T], dWeight: inout [T], dBias: inout [T]?, dOutput: [T], input: [T], weight: [T],
    batch: Int, inChannels: Int, height: Int, width: Int, attributes a: Conv2dAttributes
) {
    let (outHeight, outWidth) = referenceConv2dOutputSize(height: height, width: width, attributes: a)
    let outChannels = a.outChannels, groups = a.groups
    let inPerGroup = inChannels / groups, outPerGroup = outChannels / groups
    let kh = a.kernelSize[0], kw = a.kernelSize[1]
    precondition(dInput.count == input.count && input.count == batch * inChannels * height * width, "conv2d: dInput count")
    precondition(dWeight.count == weight.count && weight.count == outChannels * inPerGroup * kh * kw, "conv2d: dWeight count")
    precondition(dOutput.count == batch * outChannels * outHeight * outWidth, "conv2d: dOutput count")
    precondition(dBias == nil || dBias!.count == outChannels, "conv2d: dBias count")
    for n in 0..<batch {
        for oc in 0..<outChannels {
            let g = oc / outPerGroup
            for oh in 0..<outHeight {
                for ow in 0..<outWidth {
                    let d = dOutput[((n * outChannels + oc) * outHeight + oh) * outWidth + ow]
                    if dBias != nil { dBias![oc] += d }
                    for ic in 0..<inPerGroup {
                        let c = g * inPerGroup + ic
                        for i in 0..<kh {
                            let h = oh * a.stride[0] - a.padding.top + i * a.dilation[0]
                            if h < 0 || h >= height { continue }
                            for j in 0..<kw {
                                let w = ow * a.stride[1] - a.padding.left + j * a.dilation[1]
                                if w < 0 || w >= width { continue }
                                let inputIndex = ((n * inChannels + c) * height + h) * width + w
                                let weightIndex = ((oc * inPerGroup + ic) * kh + i) * kw + j
                                dInput[inputIndex] += d * weight[weightIndex]
                                dWeight[weightIndex] += d * input[inputIndex]
                            }
                        }
                    }
                }
            }
        }
    }
}
