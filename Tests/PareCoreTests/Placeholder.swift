import XCTest

final class PareCoreTestsPlaceholderTests: XCTestCase {}
