#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - StagedFiles

/// Writes a set of files so that none appears half-written: each file goes
/// to a hidden temporary name in the target folder and is flushed to disk;
/// only when every file is complete are they renamed into place (each
/// rename is atomic). ``discard()`` removes the temporaries after a failure.
///
/// Blocking file I/O: call from a dedicated queue in services.
struct StagedFiles {
    /// The folder the files end up in.
    let directory: URL
    /// (temporary, final) pairs staged so far.
    private(set) var staged: [(temporary: URL, final: URL)] = []

    /// Stages files for `directory`, which must exist.
    init(directory: URL) {
        self.directory = directory
    }

    /// Writes `chunks` (concatenated) as the future `name`.
    mutating func stage(_ name: String, _ chunks: [[UInt8]]) throws(ExportError) {
        let final = directory.appendingPathComponent(name)
        let temporary = directory.appendingPathComponent(".\(name).\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            throw ExportError(.io, "cannot create '\(temporary.path)': \(String(cString: strerror(errno)))")
        }
        staged.append((temporary, final))
        var open = true
        defer { if open { close(fd) } }
        for chunk in chunks {
            // `withUnsafeBytes` rethrows untyped errors, so the typed one is carried out by value.
            let failure = chunk.withUnsafeBytes { raw in Self.writeAll(fd, raw, path: temporary.path) }
            if let failure { throw failure }
        }
        guard fsync(fd) == 0 else {
            throw ExportError(.io, "cannot flush '\(temporary.path)': \(String(cString: strerror(errno)))")
        }
        open = false
        guard close(fd) == 0 else {
            throw ExportError(.io, "cannot close '\(temporary.path)': \(String(cString: strerror(errno)))")
        }
    }

    /// Renames every staged file into place.
    func commit() throws(ExportError) {
        for file in staged {
            guard rename(file.temporary.path, file.final.path) == 0 else {
                throw ExportError(.io, "cannot move the written file to '\(file.final.path)': \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Removes the temporaries that were not (or not all) committed.
    func discard() {
        for file in staged { unlink(file.temporary.path) }
    }

    /// Writes all of `raw`, retrying short writes and interrupted calls; the error, if any.
    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) -> ExportError? {
        guard let base = raw.baseAddress else { return nil }
        var done = 0
        while done < raw.count {
            let n = systemWrite(fd, base + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return ExportError(.io, "cannot write '\(path)': \(String(cString: strerror(errno)))")
            }
            done += n
        }
        return nil
    }
}

/// `write(2)`, named apart from Swift's `write` methods.
@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
