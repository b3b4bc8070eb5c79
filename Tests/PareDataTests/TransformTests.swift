import Foundation
import PareCore
import PareData
import XCTest

final class TransformTests: XCTestCase {
    /// 1x3x3 image 1...9.
    var small: Tensor { try! image(1, 3, 3, (1...9).map(Float.init)) }

    func assertClose(_ actual: Tensor, _ expected: [Float], accuracy: Float = 1e-5,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.elementCount, expected.count, file: file, line: line)
        for (i, (a, e)) in zip(actual.scalars, expected).enumerated() where abs(a - e) > accuracy {
            XCTFail("element \(i): \(a) != \(e)", file: file, line: line)
            return
        }
    }

    func testFlipIsExact() throws {
        let flipped = HorizontalFlip.flip(small)
        XCTAssertEqual(flipped.scalars, [3, 2, 1, 6, 5, 4, 9, 8, 7])
        var generator = SeededGenerator(seed: 1)
        XCTAssertEqual(HorizontalFlip(probability: 1)(small, generator: &generator).scalars, flipped.scalars)
        XCTAssertEqual(HorizontalFlip(probability: 0)(small, generator: &generator).scalars, small.scalars)
        // p = 0.5 flips about half the time.
        let flips = (0..<1000).filter { _ in HorizontalFlip()(small, generator: &generator).scalars[0] == 3 }.count
        XCTAssertTrue((420...580).contains(flips), "\(flips)")
    }

    func testCropWithPaddingIsExact() throws {
        let crop = RandomCrop(height: 3, width: 3, padding: 1)
        XCTAssertEqual(crop.apply(small, top: 0, left: 0).scalars, [0, 0, 0, 0, 1, 2, 0, 4, 5])
        XCTAssertEqual(crop.apply(small, top: 2, left: 1).scalars, [4, 5, 6, 7, 8, 9, 0, 0, 0])
        XCTAssertEqual(crop.apply(small, top: 1, left: 1).scalars, small.scalars)
        // The random version is the deterministic one at the offsets it draws.
        var generator = SeededGenerator(seed: 3), copy = generator
        let (top, left) = crop.offsets(imageHeight: 3, imageWidth: 3, generator: &copy)
        XCTAssertEqual(crop(small, generator: &generator).scalars, crop.apply(small, top: top, left: left).scalars)
        // CIFAR's 32 with padding 4: every offset in 0...8 occurs, no other.
        let cifar = RandomCrop(height: 32, width: 32, padding: 4)
        var seen = Set<Int>()
        for _ in 0..<2000 {
            let (t, l) = cifar.offsets(imageHeight: 32, imageWidth: 32, generator: &generator)
            seen.insert(t)
            seen.insert(l)
        }
        XCTAssertEqual(seen, Set(0...8))
    }

    func testNormalizeIsExact() throws {
        let rgb = try image(3, 1, 2, [0, 1, 0.5, 0.25, 1, 0])
        let normalized = Normalize.cifar10.apply(rgb)
        let mean: [Float] = [0.4914, 0.4822, 0.4465], std: [Float] = [0.2470, 0.2435, 0.2616]
        var expected: [Float] = []
        for (i, x) in rgb.scalars.enumerated() { expected.append((x - mean[i / 2]) / std[i / 2]) }
        XCTAssertEqual(normalized.scalars, expected)
        XCTAssertEqual(Normalize.fashionMNIST.apply(try image(1, 1, 1, [1])).scalars, [(1 - 0.2860) / 0.3530])
        XCTAssertEqual(Normalize.presets["imagenet"], Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
        XCTAssertEqual(Normalize.presets["mnist"], Normalize(mean: [0.1307], std: [0.3081]))
    }

    func testRotationBy90DegreesIsATransposeFlip() {
        let input = randomImage([2, 5, 5], seed: 4)
        let rotated = RandomRotation.rotate(input, degrees: 90)
        // Counter-clockwise: out[c][y][x] = in[c][x][W - 1 - y].
        let x = input.scalars
        var expected: [Float] = []
        for c in 0..<2 {
            for row in 0..<5 {
                for column in 0..<5 { expected.append(x[(c * 5 + column) * 5 + (4 - row)]) }
            }
        }
        assertClose(rotated, expected, accuracy: 1e-5)
        assertClose(RandomRotation.rotate(input, degrees: 0), x)
        // A random angle stays within the range and is reproducible.
        var generator = SeededGenerator(seed: 2), copy = generator
        let angle = RandomRotation(degrees: 10).angle(generator: &copy)
        XCTAssertTrue(abs(angle) <= 10)
        XCTAssertEqual(RandomRotation(degrees: 10)(input, generator: &generator).scalars,
                       RandomRotation.rotate(input, degrees: angle).scalars)
    }

    func testErasingSetsOneRectangleInEveryChannel() throws {
        let ones = Tensor(repeating: 1, shape: [3, 20, 20])
        let erasing = RandomErasing(probability: 1)
        for seed in 0..<20 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed), copy = generator
            _ = copy.nextUniform()  // the probability draw
            let region = try XCTUnwrap(erasing.region(height: 20, width: 20, generator: &copy))
            let erased = erasing(ones, generator: &generator).scalars
            XCTAssertEqual(erased.filter { $0 == 0 }.count, 3 * region.height * region.width)
            for c in 0..<3 {
                for y in 0..<20 {
                    for x in 0..<20 {
                        let inside = (region.top..<(region.top + region.height)).contains(y)
                            && (region.left..<(region.left + region.width)).contains(x)
                        XCTAssertEqual(erased[(c * 20 + y) * 20 + x], inside ? 0 : 1)
                    }
                }
            }
            let fraction = Float(region.height * region.width) / 400
            XCTAssertTrue(fraction >= 0.01 && fraction <= 0.36, "\(fraction)")
        }
        XCTAssertEqual(ones.scalars.allSatisfy { $0 == 1 }, true, "the input is not modified")
        var generator = SeededGenerator(seed: 1)
        XCTAssertEqual(RandomErasing(probability: 0)(ones, generator: &generator).scalars, ones.scalars)
    }

    func testColorJitterDefinitions() throws {
        let rgb = try image(3, 1, 2, [0.2, 0.8, 0.5, 0.1, 0.9, 0.3])
        XCTAssertEqual(ColorJitter.adjustBrightness(rgb, factor: 1.5).scalars, rgb.scalars.map { min(1, 1.5 * $0) })
        let grey: [Float] = [0.2989 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9, 0.2989 * 0.8 + 0.587 * 0.1 + 0.114 * 0.3]
        let mean = (grey[0] + grey[1]) / 2
        assertClose(ColorJitter.adjustContrast(rgb, factor: 0.5), rgb.scalars.map { min(1, max(0, 0.5 * $0 + 0.5 * mean)) }, accuracy: 1e-6)
        assertClose(ColorJitter.adjustSaturation(rgb, factor: 2),
                    rgb.scalars.enumerated().map { min(1, max(0, 2 * $1 - grey[$0 % 2])) }, accuracy: 1e-6)
        // Hue: a third of a turn takes red to green and green to blue; 0 changes nothing.
        let primaries = try image(3, 1, 2, [1, 0, 0, 1, 0, 0])
        assertClose(ColorJitter.adjustHue(primaries, factor: 1.0 / 3), [0, 0, 1, 0, 0, 1], accuracy: 1e-5)
        assertClose(ColorJitter.adjustHue(rgb, factor: 0), rgb.scalars, accuracy: 1e-6)
        // One channel: saturation and hue do nothing.
        XCTAssertEqual(ColorJitter.adjustSaturation(small, factor: 0).scalars, small.scalars)

        // Brightness alone: the drawn factor is in [0.5, 1.5] and is exactly what is applied.
        let jitter = ColorJitter(brightness: 0.5)
        var generator = SeededGenerator(seed: 8), copy = generator
        let adjustments = jitter.parameters(generator: &copy)
        guard adjustments.count == 1, case let .brightness(factor) = adjustments[0] else {
            return XCTFail("\(adjustments)")
        }
        XCTAssertTrue(factor >= 0.5 && factor <= 1.5)
        XCTAssertEqual(jitter(rgb, generator: &generator).scalars, rgb.scalars.map { min(1, max(0, factor * $0)) })
        // All four: each once, in some order.
        let all = ColorJitter(brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.1).parameters(generator: &generator)
        XCTAssertEqual(all.count, 4)
    }

    func testPerspectiveWithoutDistortionIsIdentity() {
        let input = randomImage([3, 6, 7], seed: 5)
        var generator = SeededGenerator(seed: 1)
        assertClose(RandomPerspective(distortionScale: 0, probability: 1)(input, generator: &generator), input.scalars, accuracy: 1e-5)
        let transform = RandomPerspective(distortionScale: 0.5)
        for _ in 0..<50 {
            let (start, end) = transform.corners(height: 6, width: 7, generator: &generator)
            XCTAssertEqual(start.map(\.x), [0, 6, 6, 0])
            XCTAssertTrue(end.allSatisfy { (0..<7).contains($0.x) && (0..<6).contains($0.y) })
            XCTAssertTrue(end[0].x <= 1 && end[1].x >= 5 && end[0].y <= 1 && end[2].y >= 4)
        }
        // Moving the corners in by a shrinking map: the centre pixel region stays, borders get zeros.
        let ones = Tensor(repeating: 1, shape: [1, 8, 8])
        let warped = RandomPerspective.warp(ones, start: [(0, 0), (7, 0), (7, 7), (0, 7)], end: [(2, 2), (5, 2), (5, 5), (2, 5)]).scalars
        XCTAssertEqual(warped[0], 0)
        XCTAssertEqual(warped[4 * 8 + 4], 1, accuracy: 1e-5)
    }

    func testResizeIsAntialiasedBilinear() throws {
        assertClose(Resize(height: 1, width: 4).apply(try image(1, 1, 2, [0, 1])), [0, 0.25, 0.75, 1])
        // Shrinking by 2 widens the triangle filter (PIL / torchvision antialias=True).
        assertClose(Resize(height: 1, width: 2).apply(try image(1, 1, 4, [0, 1, 2, 3])), [1.25 / 1.75, 4 / 1.75])
        var generator = SeededGenerator(seed: 1)
        XCTAssertEqual(CenterCrop(height: 1, width: 1)(small, generator: &generator).scalars, [5])
        let constant = Tensor(repeating: 0.5, shape: [3, 17, 23])
        assertClose(Resize(height: 5, width: 9).apply(constant), Array(repeating: 0.5, count: 3 * 45))
    }

    func testAugmentationListParsesAndIsSeeded() throws {
        let list = try AugmentationList(parsing: "crop,flip,rotate=10,jitter,perspective,erase")
        XCTAssertEqual(list.items, [.crop(padding: 4), .flip(probability: 0.5), .rotate(degrees: 10), .jitter(strength: 0.2),
                                    .perspective(distortionScale: 0.5), .erase(probability: 0.5)])
        XCTAssertEqual(try AugmentationList(parsing: "none").items, [])
        XCTAssertEqual(try AugmentationList(parsing: "crop=2, flip").items, [.crop(padding: 2), .flip(probability: 0.5)])
        for bad in ["crop,zoom", "rotate=x", "crop=1.5", "perspective=2"] {
            XCTAssertThrowsError(try AugmentationList(parsing: bad)) { error in
                XCTAssertTrue("\(error)".contains("crop, flip, rotate, jitter, perspective, erase"), "\(error)")
            }
        }
        let pipeline = list.pipeline(sampleShape: [3, 12, 12], normalize: .cifar10)
        XCTAssertEqual(pipeline.transforms.count, 7)
        XCTAssertTrue(pipeline.transforms[5] is Normalize, "normalize comes before erasing")
        XCTAssertTrue(pipeline.transforms[6] is RandomErasing)
        let input = randomImage([3, 12, 12], seed: 3)
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42), c = SeededGenerator(seed: 43)
        let first = pipeline(input, generator: &a).scalars
        XCTAssertEqual(first, pipeline(input, generator: &b).scalars)
        XCTAssertNotEqual(first, pipeline(input, generator: &c).scalars)
        XCTAssertEqual(a, b)
    }
}
