#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

// MARK: - MappedFile

/// A read-only memory mapping of a whole file. Owns the mapping: `deinit`
/// unmaps it, so pointers lent by ``withBytes(_:)`` must not escape the closure
/// (callers that keep a ``GGUFFile`` alive keep the mapping alive).
final class MappedFile: @unchecked Sendable {
    // @unchecked: the mapping is PROT_READ and never changes after `make`.
    private let base: UnsafeMutableRawPointer?
    /// The file's size in bytes at the time it was mapped.
    let count: Int

    private init(base: UnsafeMutableRawPointer?, count: Int) {
        self.base = base
        self.count = count
    }

    /// Maps `url` read-only. Empty files map to an empty buffer.
    static func make(url: URL) throws -> MappedFile {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw ModelError(.io, "cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw ModelError(.io, "cannot stat '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ModelError(.io, "'\(path)' is not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 { return MappedFile(base: nil, count: 0) }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw ModelError(.io, "cannot map '\(path)' (\(size) bytes): \(String(cString: strerror(errno)))")
        }
        return MappedFile(base: mapped, count: size)
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// The mapped bytes. Valid only while `self` is alive.
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { UnsafeRawPointer($0) }, count: count)
    }

    /// Lends the mapped bytes to `body`; the buffer must not escape it.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(bytes) }
    }
}
