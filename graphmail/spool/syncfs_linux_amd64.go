package spool

// sysSyncfs is syncfs(2), which the frozen syscall package does not name
// on amd64.
const sysSyncfs = 306
