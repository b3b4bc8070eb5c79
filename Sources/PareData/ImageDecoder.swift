import CJPEG
import CPNG
import Foundation

/// An 8-bit RGB image as decoded from a file: rows top to bottom, 3 bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height * width * 3` bytes, interleaved R, G, B.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "\(pixels.count) bytes for a \(width)x\(height) RGB image")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit RGB, chosen by the file's first
/// bytes, not its name. Conversions follow PIL's `convert("RGB")`, which torchvision's image
/// folders use: grey is replicated to three channels, palettes are expanded, an alpha channel
/// is dropped (not composited), 16-bit samples are reduced to 8 bits (`v / 257`, rounded). libpng applies a
/// file's gAMA chunk when it differs from sRGB, which PIL does not.
public enum ImageDecoder {
    /// The most pixels a PNG or JPEG header may announce: 2^27 (134 million, 11585x11585;
    /// PIL refuses above 179 million). Checked before the pixel buffer is allocated.
    public static let maxPixelCount = 1 << 27

    /// The most pixels a JPEG may announce per byte of its file: 512. A Huffman-coded JPEG
    /// (baseline or progressive) codes every 8x8 block of its full-resolution component with at
    /// least one bit (a DC difference), so a file of n bytes holds at most 512n pixels; a
    /// header announcing more is refused before the pixel buffer (and, for a progressive file,
    /// libjpeg's coefficient buffer, 2 bytes per pixel and component) is allocated. Only an
    /// arithmetic-coded JPEG of a nearly uniform image could legitimately pack more.
    public static let maxJPEGPixelsPerByte = 512

    /// The most scans a JPEG may have: 100 (libjpeg's progressive script writes 10 for colour,
    /// 6 for grey). Every scan of a progressive file is a pass over the whole image, and a scan
    /// can code thousands of blocks in a few bits, so many scans in a small file would
    /// otherwise cost minutes (djpeg's `-maxscans` guards against the same).
    public static let maxJPEGScanCount = 100

    /// Decodes the image file at `path`. Errors name the file.
    public static func decode(file path: String) throws -> RGBImage {
        let data = try FileBytes.readRaw(path)
        do {
            return try decode(data)
        } catch let problem as DecodeProblem {
            throw DatasetError(file: path, problem: .undecodableImage(reason: problem.reason))
        }
    }

    /// Decodes PNG or JPEG bytes.
    static func decode(_ data: Data) throws -> RGBImage {
        let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if data.starts(with: pngSignature) { return try decodePNG(data) }
        if data.starts(with: [0xFF, 0xD8]) { return try decodeJPEG(data) }
        throw DecodeProblem(reason: data.isEmpty ? "empty file" : "neither PNG nor JPEG data")
    }

    struct DecodeProblem: Error {
        var reason: String
    }

    private static func decodePNG(_ data: Data) throws -> RGBImage {
        // libpng keeps reading from the memory given to begin_read until finish_read, so
        // both happen while the bytes are pinned.
        let (width, height, rgba) = try data.withUnsafeBytes { bytes -> (Int, Int, [UInt8]) in
            var image = png_image()
            image.version = UInt32(PNG_IMAGE_VERSION)
            defer { png_image_free(&image) }
            guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
                throw DecodeProblem(reason: "PNG: " + message(of: image))
            }
            // RGBA, then drop A: PIL's convert("RGB") discards alpha rather than compositing.
            image.format = PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA
            // 16-bit samples without gAMA/sRGB chunks are sRGB-encoded like 8-bit ones (libpng
            // would otherwise assume linear light and apply a gamma curve); PIL keeps them as is.
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
            let width = Int(image.width), height = Int(image.height)
            guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16 else {
                throw DecodeProblem(reason: "PNG: unsupported size \(width)x\(height)")
            }
            // Both at most 2^16: the product cannot overflow.
            guard width * height <= maxPixelCount else {
                throw DecodeProblem(reason: "PNG: header width \(width) x height \(height) is \(width * height) pixels, "
                                    + "more than the \(maxPixelCount) Pare decodes")
            }
            // The file must hold the compressed rows: at least `height * (1 + ceil(width / 8))`
            // bytes before compression (one filter byte per row, 1-bit pixels at the least), and
            // deflate compresses at most 1032:1. A short file whose header announces a large
            // image is refused here, before the buffer its header asks for is allocated.
            let minimumRowBytes = height * (1 + (width + 7) / 8)
            guard minimumRowBytes <= 1032 * bytes.count else {
                throw DecodeProblem(reason: "PNG: header width \(width) x height \(height) needs at least \(minimumRowBytes) "
                                    + "bytes of rows, more than a file of \(bytes.count) bytes can hold (deflate compresses at most 1032:1)")
            }
            var rgba = [UInt8](repeating: 0, count: width * height * 4)
            let finished = rgba.withUnsafeMutableBytes {
                png_image_finish_read(&image, nil, $0.baseAddress, Int32(width * 4), nil)
            }
            guard finished != 0 else { throw DecodeProblem(reason: "PNG: " + message(of: image)) }
            return (width, height, rgba)
        }
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for pixel in 0..<(width * height) {
            rgb[3 * pixel] = rgba[4 * pixel]
            rgb[3 * pixel + 1] = rgba[4 * pixel + 1]
            rgb[3 * pixel + 2] = rgba[4 * pixel + 2]
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }

    private static func message(of image: png_image) -> String {
        withUnsafeBytes(of: image.message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func decodeJPEG(_ data: Data) throws -> RGBImage {
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes in
            message.withUnsafeMutableBufferPointer { text in
                pare_jpeg_decode_rgb(bytes.bindMemory(to: UInt8.self).baseAddress, UInt(bytes.count), UInt64(maxPixelCount),
                                     UInt64(maxJPEGPixelsPerByte), Int32(maxJPEGScanCount), &pixels, &width, &height,
                                     text.baseAddress, text.count)
            }
        }
        guard status == 0, let pixels else {
            let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw DecodeProblem(reason: "JPEG: " + text)
        }
        defer { free(pixels) }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}
