// Package dovecottest starts a throwaway Dovecot IMAP server on 127.0.0.1
// for tests, serving one user whose mail is a Maildir++ tree the test
// chooses, and gives a minimal IMAP client and doveadm to drive it.
//
//	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: dir})
//	c := srv.Login(t)
//	defer c.Logout()
//	sel, err := c.Select("INBOX")
//
// The server has its own configuration (nothing of /etc/dovecot is read),
// listens on a free port of 127.0.0.1 only, authenticates the user from a
// passwd-file, and is stopped by t.Cleanup. Dovecot refuses to access mail
// as root: when the test runs as root, mail is accessed as an unprivileged
// user (nobody, or the uid/gid 65534), and the test calls [Server.Chown]
// to hand it files the test wrote; as any other user, everything runs as
// that user.
//
// Start skips the test only when dovecot is not installed (not on PATH and
// not in /usr/sbin), saying so.
package dovecottest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Config describes the server to start.
type Config struct {
	// MailRoot is the user's Maildir++ root (INBOX). Required; created
	// if missing.
	MailRoot string
	// User and Password log in. Defaults "test" and "secret".
	User, Password string
	// Separator is the IMAP hierarchy separator. Default "/", so that
	// IMAP names are the names mailbox.Store uses (in modified UTF-7).
	Separator string
	// Extra is appended to the generated dovecot.conf.
	Extra string
	// AnyUser lets any user name log in with Password; each user's mail
	// is the Maildir++ tree MailRoot/<user>, made on first login. Tests
	// that need many fresh accounts from one server (a conformance
	// suite, a batch of users) take a new name for each.
	AnyUser bool
	// Master, when set, is a master user ("admin") that logs in as any
	// user with Password, by SASL PLAIN with the user as authorization
	// identity (RFC 4616), as Dovecot's master users and Cyrus's admins
	// do.
	Master string
}

// Server is a running Dovecot.
type Server struct {
	Addr     string // host:port of the IMAP listener
	User     string
	Password string
	MailRoot string
	UID, GID int    // the owner mail is accessed as
	Dir      string // configuration, logs and runtime files
	Conf     string // the dovecot.conf path

	cmd     *exec.Cmd
	done    chan error
	stopped bool
}

// Binary returns the path of the dovecot binary, or "" when it is not
// installed.
func Binary() string {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot"
	}
	return ""
}

func doveadmBinary() string {
	if p, err := exec.LookPath("doveadm"); err == nil {
		return p
	}
	return "/usr/bin/doveadm"
}

// Start starts a server and registers its Stop with t.Cleanup.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("dovecottest: dovecot is not installed (apt-get install dovecot-core dovecot-imapd); skipping the Dovecot test")
	}
	if cfg.MailRoot == "" {
		t.Fatal("dovecottest: Config.MailRoot is required")
	}
	if cfg.User == "" {
		cfg.User = "test"
	}
	if cfg.Password == "" {
		cfg.Password = "secret"
	}
	if cfg.Separator == "" {
		cfg.Separator = "/"
	}
	root, err := filepath.Abs(cfg.MailRoot)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{User: cfg.User, Password: cfg.Password, MailRoot: root, Dir: t.TempDir()}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	s.UID, s.GID = os.Getuid(), os.Getgid()
	internalUser, loginUser, internalGroup := "", "", ""
	if s.UID == 0 {
		s.UID, s.GID = unprivileged()
		internalUser, loginUser = systemUser("dovecot"), systemUser("dovenull")
		// The server's processes must reach the mail and their own files.
		for _, d := range []string{root, s.Dir} {
			if err := openPath(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.chown(); err != nil {
			t.Fatal(err)
		}
	} else {
		u, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		internalUser, loginUser = u.Username, u.Username
		if g, err := user.LookupGroupId(strconv.Itoa(s.GID)); err == nil {
			internalGroup = g.Name
		}
	}
	for _, d := range []string{"run", "log"} {
		if err := os.Mkdir(filepath.Join(s.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	passwd := filepath.Join(s.Dir, "passwd")
	if err := os.WriteFile(passwd, fmt.Appendf(nil, "%s:{PLAIN}%s::::::\n", s.User, s.Password), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.Conf = filepath.Join(s.Dir, "dovecot.conf")
		conf := s.config(port, passwd, internalUser, loginUser, internalGroup, cfg)
		if err := os.WriteFile(s.Conf, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(bin); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("dovecottest: dovecot did not start: %v\n%s", lastErr, s.Log())
	return nil
}

// config writes a dovecot.conf that reads nothing of the system's.
func (s *Server) config(port int, passwd, internalUser, loginUser, internalGroup string, cfg Config) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# written by dovecottest; serves one test user on 127.0.0.1")
	p("base_dir = %s", filepath.Join(s.Dir, "run"))
	p("state_dir = %s", filepath.Join(s.Dir, "run", "state"))
	p("log_path = %s", filepath.Join(s.Dir, "log", "dovecot.log"))
	p("protocols = imap")
	p("listen = 127.0.0.1")
	p("ssl = no")
	p("disable_plaintext_auth = no")
	p("auth_mechanisms = plain login")
	p("default_internal_user = %s", internalUser)
	p("default_login_user = %s", loginUser)
	if internalGroup != "" {
		p("default_internal_group = %s", internalGroup)
	}
	p("first_valid_uid = %d", min(s.UID, 500))
	p("first_valid_gid = %d", min(s.GID, 1))
	if cfg.Master != "" {
		p("passdb {\n  driver = static\n  args = user=%s password=%s\n  master = yes\n}", cfg.Master, s.Password)
	}
	if cfg.AnyUser {
		p("mail_location = maildir:%s/%%u", s.MailRoot)
		p("passdb {\n  driver = static\n  args = password=%s\n}", s.Password)
		p("userdb {\n  driver = static\n  args = uid=%d gid=%d home=%s/%%u\n}", s.UID, s.GID, s.MailRoot)
	} else {
		p("mail_location = maildir:%s", s.MailRoot)
		p("passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%%u %s\n}", passwd)
		p("userdb {\n  driver = static\n  args = uid=%d gid=%d home=%s\n}", s.UID, s.GID, s.MailRoot)
	}
	p("namespace inbox {\n  inbox = yes\n  separator = %s\n}", cfg.Separator)
	p("service imap-login {\n  chroot =\n  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n  inet_listener imaps {\n    port = 0\n  }\n}", port)
	for _, svc := range []string{"anvil", "pop3-login", "submission-login", "managesieve-login", "imap-urlauth-login"} {
		p("service %s {\n  chroot =\n}", svc)
	}
	p("service stats {\n  unix_listener stats-reader {\n    mode = 0666\n  }\n  unix_listener stats-writer {\n    mode = 0666\n  }\n}")
	p("%s", cfg.Extra)
	return b.String()
}

func (s *Server) start(bin string) error {
	s.cmd = exec.Command(bin, "-F", "-c", s.Conf)
	var out bytes.Buffer
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan error, 1)
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("dovecot exited: %v: %s", err, out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.kill()
	return fmt.Errorf("dovecot did not listen on %s within 15 s: %s", s.Addr, out.String())
}

// Stop stops the server and waits for it. Later calls do nothing.
func (s *Server) Stop() {
	if s.stopped || s.cmd == nil {
		return
	}
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.kill()
	}
}

func (s *Server) kill() {
	// The process group is dovecot's master and the children it started.
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Log returns Dovecot's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log", "dovecot.log"))
	return string(b)
}

// Chown hands the mail tree to the user Dovecot accesses it as, after the
// test wrote into it (a no-op unless the test runs as root).
func (s *Server) Chown(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		return
	}
	if err := s.chown(); err != nil {
		t.Fatal(err)
	}
}

func (s *Server) chown() error {
	return filepath.WalkDir(s.MailRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := os.Lchown(p, s.UID, s.GID); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// Doveadm runs doveadm with the server's configuration, as the mail user,
// and returns its output.
func (s *Server) Doveadm(args ...string) (string, error) {
	all := append([]string{"-c", s.Conf, "-o", "mail_uid=" + strconv.Itoa(s.UID), "-o", "mail_gid=" + strconv.Itoa(s.GID)}, args...)
	cmd := exec.Command(doveadmBinary(), all...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("doveadm %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// unprivileged returns the uid and gid of nobody/nogroup, or 65534.
func unprivileged() (int, int) {
	uid, gid := 65534, 65534
	if u, err := user.Lookup("nobody"); err == nil {
		if n, err := strconv.Atoi(u.Uid); err == nil {
			uid = n
		}
		if n, err := strconv.Atoi(u.Gid); err == nil {
			gid = n
		}
	}
	return uid, gid
}

// systemUser returns name if that user exists, else "nobody".
func systemUser(name string) string {
	if _, err := user.Lookup(name); err == nil {
		return name
	}
	return "nobody"
}

// openPath lets other users traverse dir and its ancestors (o+x), as the
// test's own temporary directories are private.
func openPath(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o055); err != nil {
				return err
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
