//go:build linux

package spool

import (
	"os"
	"syscall"
)

// syncFS makes everything written to the file system that holds f
// durable (syncfs(2)), including the directory entries a process that may
// not open their directory cannot fsync.
func syncFS(f *os.File) error {
	if _, _, e := syscall.Syscall(sysSyncfs, f.Fd(), 0, 0); e != 0 {
		return &os.SyscallError{Syscall: "syncfs", Err: e}
	}
	return nil
}
