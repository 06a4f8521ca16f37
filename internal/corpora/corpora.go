// Package corpora finds the real third-party mail that tests and the demo
// read.
//
// Two kinds:
//
//   - 400 messages of the SpamAssassin ham corpus (Apache-2.0) travel
//     with the repository, in testdata/spamassassin-ham: [Ham] finds them
//     on any checkout, so the tests that need them always run.
//   - The notmuch test corpora (GPL-3.0+) cannot be copied into this
//     repository: [Notmuch] finds them in $MAILREPL_CORPORA, else in a
//     folder shared/corpora beside the module's folder or beside a folder
//     above it (the checkout of a worktree). When they are absent the test
//     is skipped with a message that starts "NOT RUN:", unless
//     $MAILREPL_REQUIRE_CORPORA is set (CI sets it): then it fails.
package corpora

import (
	"bytes"
	"os"
	"path/filepath"
)

// HamMessages is the number of messages in the repository's part of the
// SpamAssassin ham corpus.
const HamMessages = 400

// RequireEnv names the environment variable that turns a missing
// notmuch corpus from a skip into a failure.
const RequireEnv = "MAILREPL_REQUIRE_CORPORA"

// moduleRoot returns the folder of the module's go.mod, found upwards from
// the working directory, or "".
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/mailrepl/mailrepl\n")) {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Dir returns the folder of the shared real mail ($MAILREPL_CORPORA, else
// shared/corpora beside the module or a folder above it), or "" when there
// is none.
func Dir() string {
	if dir := os.Getenv("MAILREPL_CORPORA"); dir != "" {
		return dir
	}
	root := moduleRoot()
	if root == "" {
		return ""
	}
	for up := filepath.Dir(root); ; up = filepath.Dir(up) {
		c := filepath.Join(up, "shared", "corpora")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		if filepath.Dir(up) == up {
			return ""
		}
	}
}

// Bundled returns the folder of the real mail that travels with the
// repository, laid out as the shared folder is (spamassassin-ham/ in it),
// or "" when the working directory is not inside the module.
func Bundled() string {
	root := moduleRoot()
	if root == "" {
		return ""
	}
	return filepath.Join(root, "internal", "corpora", "testdata")
}

// T is the part of testing.TB that the finders use.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Ham returns the folder of the repository's 400 SpamAssassin ham
// messages (*.eml), and fails the test when it is absent.
func Ham(t T) string {
	t.Helper()
	b := Bundled()
	if b == "" {
		t.Fatalf("the module's folder is not above the working directory: no spamassassin-ham")
		return ""
	}
	p := filepath.Join(b, "spamassassin-ham")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the repository's spamassassin-ham is missing: %v", err)
		return ""
	}
	return p
}

// Notmuch returns a folder of the notmuch test corpora (GPL-3.0+, not in
// this repository): parts below notmuch/test/corpora, nothing for the
// whole. When there is none, the test is skipped, saying "NOT RUN" and
// how to run it; with $MAILREPL_REQUIRE_CORPORA set it fails instead.
func Notmuch(t T, parts ...string) string {
	t.Helper()
	base := Dir()
	p := filepath.Join(append([]string{base, "notmuch", "test", "corpora"}, parts...)...)
	_, err := os.Stat(p)
	if base != "" && err == nil {
		return p
	}
	why := "no shared corpora: $MAILREPL_CORPORA is not set and no shared/corpora is beside the repository"
	if base != "" {
		why = err.Error()
	}
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("the notmuch corpora are required (%s is set): %s", RequireEnv, why)
		return ""
	}
	t.Skipf("NOT RUN: this test reads the notmuch test corpora (GPL-3.0+, not part of this repository), and %s; "+
		"set MAILREPL_CORPORA to a folder holding notmuch/test/corpora (such as ../shared/corpora) to run it", why)
	return ""
}
