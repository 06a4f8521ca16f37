//go:build !linux

package maildir

import "os"

// syncFiles makes the staged files durable: an fsync of each.
func syncFiles(dir *os.File, files []stagedFile) error { return fsyncEach(files) }

// startWriteback does nothing here.
func startWriteback(fh *os.File) {}
