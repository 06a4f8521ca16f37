// Package corpora finds the real third-party mail that tests and the demo
// read: $MAILREPL_CORPORA, else a folder shared/corpora beside the
// module's folder or beside a folder above it (the checkout of a worktree).
package corpora

import (
	"bytes"
	"os"
	"path/filepath"
)

// Dir returns the folder of real mail, or "" when there is none.
func Dir() string {
	if dir := os.Getenv("MAILREPL_CORPORA"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/mailrepl/mailrepl\n")) {
			for up := filepath.Dir(d); ; up = filepath.Dir(up) {
				c := filepath.Join(up, "shared", "corpora")
				if fi, err := os.Stat(c); err == nil && fi.IsDir() {
					return c
				}
				if filepath.Dir(up) == up {
					return ""
				}
			}
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// T is the part of testing.TB that Path uses.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Path returns a directory or file of the real mail, and fails the test
// when it is absent: a test that needs real mail must not pass without
// reading it.
func Path(t T, parts ...string) string {
	t.Helper()
	base := Dir()
	if base == "" {
		t.Fatalf("no real mail found: set MAILREPL_CORPORA to ../shared/corpora")
		return ""
	}
	p := filepath.Join(append([]string{base}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus %s not found in %s (set MAILREPL_CORPORA): %v", filepath.Join(parts...), base, err)
		return ""
	}
	return p
}
