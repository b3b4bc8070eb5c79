/// oneDNN's blocked activation layout `nChw{block}c` for tests: channels in blocks of
/// `block` (the last padded with zeros), each pixel's block contiguous.
enum BlockedLayout {
    /// Elements of an `[N, C, H, W]` tensor in the layout, padding included.
    static func count(_ s: [Int], block: Int) -> Int {
        s[0] * ((s[1] + block - 1) / block * block) * s[2] * s[3]
    }

    /// `[N, C, H, W]` into `nChw{block}c`, padding lanes zero.
    static func blocked(_ values: [Float], _ s: [Int], block: Int) -> [Float] {
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]), blocks = (c + block - 1) / block
        var out = [Float](repeating: 0, count: count(s, block: block))
        for b in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
            out[(((b * blocks + ch / block) * h + y) * w + x) * block + ch % block] = values[((b * c + ch) * h + y) * w + x]
        } } } }
        return out
    }

    /// Back from `nChw{block}c` to `[N, C, H, W]`.
    static func plain(_ values: [Float], _ s: [Int], block: Int) -> [Float] {
        let (n, c, h, w) = (s[0], s[1], s[2], s[3]), blocks = (c + block - 1) / block
        var out = [Float](repeating: 0, count: n * c * h * w)
        for b in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
            out[((b * c + ch) * h + y) * w + x] = values[(((b * blocks + ch / block) * h + y) * w + x) * block + ch % block]
        } } } }
        return out
    }
}
