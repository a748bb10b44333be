//go:build !linux

package natstest

import "syscall"

// dieWithTest is nil where Pdeathsig does not exist.
func dieWithTest() *syscall.SysProcAttr { return nil }
