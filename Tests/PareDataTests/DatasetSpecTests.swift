import Foundation
import PareCore
import PareData
import XCTest

final class DatasetSpecTests: XCTestCase {
    func testParsesEveryAcceptedForm() throws {
        XCTAssertEqual(try DatasetSpec(parsing: "fashion-mnist"), .fashionMNIST(directory: MNIST.fashionMNISTDirectory))
        XCTAssertEqual(try DatasetSpec(parsing: "fashion-mnist:/d"), .fashionMNIST(directory: "/d"))
        XCTAssertEqual(try DatasetSpec(parsing: "mnist:/data/mnist"), .mnist(directory: "/data/mnist"))
        XCTAssertEqual(try DatasetSpec(parsing: "cifar10:rel/dir"), .cifar10(directory: "rel/dir"))
        XCTAssertEqual(try DatasetSpec(parsing: "cifar100:/c"), .cifar100(directory: "/c", label: .fine))
        XCTAssertEqual(try DatasetSpec(parsing: "cifar100-coarse:/c"), .cifar100(directory: "/c", label: .coarse))
        XCTAssertEqual(try DatasetSpec(parsing: "folder:/x:y"), .folder(directory: "/x:y"))
        XCTAssertEqual(try DatasetSpec(parsing: "cifar100-coarse:/c").description, "cifar100-coarse:/c")
        XCTAssertEqual(DatasetSpec.cifar10(directory: "/c").defaultNormalization, .cifar10)
    }

    func testRejectsOtherFormsListingTheAcceptedOnes() {
        for text in ["", "mnist", "cifar10:", "imagenet:/x", "Fashion-MNIST"] {
            XCTAssertThrowsError(try DatasetSpec(parsing: text), text) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains("'\(text)'"), message)
                for form in ["fashion-mnist", "mnist:DIR", "cifar10:DIR", "cifar100:DIR", "folder:DIR"] {
                    XCTAssertTrue(message.contains(form), message)
                }
            }
        }
    }

    func testFolderSpecFindsTrainAndValidationFolders() throws {
        let root = try temporaryDirectory(self)
        try write(rgbPNG(width: 1, height: 1, pixels: [1, 2, 3]), to: path(root, "train", "a", "x.png"))
        try write(rgbPNG(width: 1, height: 1, pixels: [1, 2, 3]), to: path(root, "train", "b", "x.png"))
        let spec = try DatasetSpec(parsing: "folder:\(root)")
        XCTAssertEqual(try spec.open(.train, geometry: .resize(height: 1, width: 1))?.count, 2)
        XCTAssertNil(try spec.open(.test, geometry: .resize(height: 1, width: 1)))
        try write(rgbPNG(width: 1, height: 1, pixels: [1, 2, 3]), to: path(root, "val", "a", "y.png"))
        XCTAssertEqual(try spec.open(.test, geometry: .resize(height: 1, width: 1))?.count, 1)
        // Without a train folder the directory itself holds the classes.
        let flat = try temporaryDirectory(self)
        try write(rgbPNG(width: 1, height: 1, pixels: [1, 2, 3]), to: path(flat, "a", "x.png"))
        XCTAssertEqual(try DatasetSpec.folder(directory: flat).open(.train, geometry: .resize(height: 1, width: 1))?.classes, 1)
    }
}

final class ValidationSplitTests: XCTestCase {
    func dataset(count: Int) -> InMemoryDataset {
        InMemoryDataset(sampleShape: [1, 1, 1], classes: 3, classNames: nil, pixels: (0..<count).map { UInt8($0 % 256) },
                        labels: (0..<count).map { $0 < count / 2 ? 0 : ($0 % 2 == 0 ? 1 : 2) })
    }

    func testSeededDisjointAndComplete() throws {
        let data = dataset(count: 100)
        let split = ValidationSplit(data, fraction: 0.2, seed: 5)
        XCTAssertEqual(split.validation.count, 20)
        XCTAssertEqual(split.train.count, 80)
        XCTAssertEqual(Set(split.train.indices + split.validation.indices), Set(0..<100))
        XCTAssertTrue(Set(split.train.indices).isDisjoint(with: split.validation.indices))
        XCTAssertEqual(ValidationSplit(data, fraction: 0.2, seed: 5).validation.indices, split.validation.indices)
        XCTAssertNotEqual(ValidationSplit(data, fraction: 0.2, seed: 6).validation.indices, split.validation.indices)
        XCTAssertEqual(try split.validation.sample(at: 3).label, data.labels[split.validation.indices[3]])
        XCTAssertEqual(split.validation.classes, 3)
    }

    func testStratifiedKeepsClassProportions() {
        let data = dataset(count: 100)  // 50 of class 0, 25 each of 1 and 2
        let split = ValidationSplit(data, fraction: 0.2, seed: 1, stratified: true)
        let counts = (0..<3).map { c in split.validation.indices.filter { data.labels[$0] == c }.count }
        XCTAssertEqual(counts, [10, 5, 5])
    }
}
