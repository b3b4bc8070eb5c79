import XCTest

final class PareIOTestsPlaceholderTests: XCTestCase {}
