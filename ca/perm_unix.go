//go:build unix

package ca

import (
	"fmt"
	"os"
)

// checkKeyFileMode refuses a key file (after following symlinks) that group
// or others may read, write or execute: anyone who can read the CA key can
// impersonate every site to every client that trusts the CA.
func checkKeyFileMode(name string) error {
	info, err := os.Stat(name)
	if err != nil {
		return fmt.Errorf("load CA key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return keyModeError(name, info.Mode())
	}
	return nil
}
