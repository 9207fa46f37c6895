/// How hard a commit waits for the disk. `full` (the default) survives a process kill and a power loss;
/// `normal` survives a process kill only (SQLite WAL with `synchronous=NORMAL`).
public enum Durability: String, Sendable, Hashable {
    case full
    case normal
}
