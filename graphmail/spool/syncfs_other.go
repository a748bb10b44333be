//go:build !linux

package spool

import "os"

// syncFS fsyncs f once more after it was renamed: without syncfs(2) this
// is the best a process that may not open the directory can do (on the
// usual journalling file systems the rename is then durable too).
func syncFS(f *os.File) error { return f.Sync() }
