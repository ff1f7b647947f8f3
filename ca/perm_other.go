//go:build !unix

package ca

// checkKeyFileMode does nothing where Unix permission bits do not describe
// who may read a file (Windows uses ACLs).
func checkKeyFileMode(string) error { return nil }
