package spool

// sysSyncfs is syncfs(2), which the frozen syscall package does not name
// on 386.
const sysSyncfs = 344
