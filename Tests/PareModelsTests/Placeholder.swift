import XCTest

final class PareModelsTestsPlaceholderTests: XCTestCase {}
