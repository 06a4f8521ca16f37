package dovecottest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Backup runs `doveadm backup` from the Maildir++ tree src into the tree
// dst (made when missing): dsync's one-way mirror, the anchor mailrepl's
// mirror is compared with. doveadm runs without a server, with a throwaway
// configuration (nothing of /etc/dovecot is read), as the user Dovecot
// accesses mail as: when the test runs as root, nobody (or 65534), and
// src and dst are handed to that user first, as [Server.Chown] does.
// settings are more -o settings, such as "maildir_copy_with_hardlinks=no"
// (by default dsync hard-links the message files of src into dst when
// both are on one file system). It returns doveadm's output.
//
// Backup skips the test when doveadm is not installed, saying so.
func Backup(t testing.TB, src, dst string, settings ...string) (string, error) {
	t.Helper()
	bin := doveadmBinary()
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("dovecottest: doveadm is not installed (apt-get install dovecot-core); skipping the dsync test: %v", err)
	}
	src, err := filepath.Abs(src)
	if err != nil {
		t.Fatal(err)
	}
	if dst, err = filepath.Abs(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	name := ""
	if uid == 0 {
		uid, gid = unprivileged()
		for _, d := range []string{src, dst} {
			if err := openPath(d); err != nil {
				t.Fatal(err)
			}
			if err := chownTree(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		name = u.Username
	} else {
		name = strconv.Itoa(uid)
	}
	dir := t.TempDir()
	if err := openPath(dir); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "doveadm.conf")
	text := fmt.Sprintf("# written by dovecottest: doveadm alone on two Maildir trees; nothing of /etc/dovecot is read\nbase_dir = %s\nstate_dir = %s\n",
		filepath.Join(dir, "run"), filepath.Join(dir, "state"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-c", conf, "-o", "mail_uid=" + strconv.Itoa(uid), "-o", "mail_gid=" + strconv.Itoa(gid),
		"-o", "mail_location=maildir:" + src}
	for _, s := range settings {
		args = append(args, "-o", s)
	}
	args = append(args, "backup", "maildir:"+dst)
	cmd := exec.Command(bin, args...)
	// Without -u, doveadm takes the user from USER; HOME is the home.
	cmd.Env = append(os.Environ(), "USER="+name, "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// chownTree hands every file under root to uid and gid.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}
