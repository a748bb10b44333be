package main

import "syscall"

// dieWithTest makes a child process get SIGKILL when the test binary
// ends, even by a panic or a timeout, so that no relay outlives its test.
func dieWithTest() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
