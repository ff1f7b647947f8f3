package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill cmd when the harness dies, so that no
// proxy or origin is left listening after a crash. It is best effort for
// Squid, whose change of user clears the setting; the harness stops every
// child itself on a normal end and on an interrupt.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
