package maildir

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// syncFiles makes the staged files durable with one syncfs(2) of the file
// system that holds dir (their tmp/): one flush for a whole batch, where
// an fsync of each file would wait for the disk once per message. dir was
// opened before the files were written, so the call reports any write-back
// error since then (Linux 5.8 and later). Where the call is missing, each
// file is fsynced.
//
// A syncfs flushes whatever else is waiting on the file system too, so a
// small batch fsyncs its few files instead (syncfsAtLeast).
func syncFiles(dir *os.File, files []stagedFile) error {
	if len(files) < syncfsAtLeast {
		return fsyncEach(files)
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Syncfs(int(fd)) }); err != nil {
		return err
	}
	if errors.Is(serr, unix.ENOSYS) {
		return fsyncEach(files)
	}
	if serr != nil {
		return &os.PathError{Op: "syncfs", Path: dir.Name(), Err: serr}
	}
	return nil
}

// startWriteback starts writing a staged file's data to the disk, without
// waiting: by the batch's Commit most of it is there, and the flush that
// makes the batch durable has less to wait for.
func startWriteback(fh *os.File) {
	rc, err := fh.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE) })
}

// syncfsAtLeast is the number of files from which a batch is made durable
// by one syncfs rather than an fsync of each.
const syncfsAtLeast = 32
