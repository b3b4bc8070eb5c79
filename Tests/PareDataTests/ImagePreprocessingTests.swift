import PareCore
@testable import PareData
import XCTest

final class ImagePreprocessingTests: XCTestCase {
    func testParsesTheMetadataForm() throws {
        let imageNet = try ImagePreprocessing(parsing: "resize=256 crop=224 normalize=imagenet")
        XCTAssertEqual(imageNet.geometry, .resizeAndCenterCrop(resize: 256, crop: 224))
        XCTAssertEqual(imageNet.normalize, .imagenet)
        let explicit = try ImagePreprocessing(parsing: "resize=32x48;mean=0.5;std=0.25")
        XCTAssertEqual(explicit.geometry, .resize(height: 32, width: 48))
        XCTAssertEqual(explicit.normalize, Normalize(mean: [0.5], std: [0.25]))
        // The description parses back to the same preprocessing.
        XCTAssertEqual(try ImagePreprocessing(parsing: imageNet.description), imageNet)
        XCTAssertEqual(try ImagePreprocessing(parsing: explicit.description), explicit)

        for (text, reason) in [("crop=224", "resize is required"), ("resize=256 normalize=nope", "no normalisation preset 'nope'"),
                               ("resize=32x32 crop=28", "crop goes with resize=S"), ("resize=32 mean=0.5", "give normalize=NAME"),
                               ("resize=32 std=0", "std must be positive"), ("resize=32 colour=1", "unknown key 'colour'"),
                               ("resize", "is not KEY=VALUE")] {
            XCTAssertThrowsError(try ImagePreprocessing(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(reason), "\(text): \(error)")
            }
        }
    }

    func testStandardPreprocessingFollowsTheInputSize() {
        XCTAssertEqual(ImagePreprocessing.standard(for: [3, 224, 224]).description,
                       "resize=256 crop=224 mean=0.485,0.456,0.406 std=0.229,0.224,0.225")
        XCTAssertEqual(ImagePreprocessing.standard(for: [3, 128, 128]).geometry, .resizeAndCenterCrop(resize: 146, crop: 128))
        XCTAssertEqual(ImagePreprocessing.standard(for: [3, 32, 32]), ImagePreprocessing(geometry: .resize(height: 32, width: 32),
                                                                                         normalize: .cifar10))
        XCTAssertEqual(ImagePreprocessing.standard(for: [1, 28, 28]).normalize, .fashionMNIST)
    }

    /// A uniform image stays uniform through resizing, so every value is known exactly:
    /// `(v / 255 - mean) / std`, grey as PIL's `convert("L")` (`(299 R + 587 G + 114 B) / 1000`,
    /// truncated).
    func testAppliesScalingGreyAndNormalisation() throws {
        let (r, g, b): (UInt8, UInt8, UInt8) = (200, 100, 50)
        let image = RGBImage(width: 10, height: 6, pixels: (0..<60).flatMap { _ in [r, g, b] })
        let colour = try ImagePreprocessing(geometry: .resizeAndCenterCrop(resize: 5, crop: 4), normalize: .imagenet)
            .apply(image, channels: 3)
        XCTAssertEqual(colour.shape, [3, 4, 4])
        for (c, value) in [r, g, b].enumerated() {
            let expected = (Float(value) / 255 - Normalize.imagenet.mean[c]) / Normalize.imagenet.std[c]
            for i in 0..<16 { XCTAssertEqual(colour.floats[c * 16 + i], expected, accuracy: 1e-6) }
        }
        let grey = try ImagePreprocessing(geometry: .resize(height: 3, width: 3), normalize: Normalize(mean: [0.5], std: [0.5]))
            .apply(image, channels: 1)
        XCTAssertEqual(grey.shape, [1, 3, 3])
        let luma = Float((299 * Int(r) + 587 * Int(g) + 114 * Int(b)) / 1000)
        XCTAssertEqual(grey.floats[4], (luma / 255 - 0.5) / 0.5, accuracy: 1e-6)
        XCTAssertThrowsError(try ImagePreprocessing.standard(for: [2, 8, 8]).apply(image, channels: 2)) { error in
            XCTAssertTrue("\(error)".contains("1- or 3-channel"), "\(error)")
        }
    }
}
