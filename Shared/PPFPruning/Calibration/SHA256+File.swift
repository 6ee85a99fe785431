import Foundation
import PPFContracts

// MARK: - SHA256 of a file

extension SHA256 {
    /// The SHA-256 of the file at `url`, read in 4 MiB chunks.
    public static func hex(ofFileAt url: URL) throws(PruningError) -> String {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw PruningError(.io, "cannot open \(url.path) to compute its checksum: \(error.localizedDescription)")
        }
        defer { try? handle.close() }
        var digest = SHA256()
        while true {
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: 4 << 20) ?? Data()
            } catch {
                throw PruningError(.io, "cannot read \(url.path) while computing its checksum: \(error.localizedDescription)")
            }
            if chunk.isEmpty { break }
            digest.update(chunk)
        }
        return digest.hexDigest()
    }
}
