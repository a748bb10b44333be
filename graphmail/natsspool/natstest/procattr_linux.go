package natstest

import "syscall"

// dieWithTest makes a server process get SIGKILL when the test binary
// ends, even by a panic or a timeout.
func dieWithTest() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
