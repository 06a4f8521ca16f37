package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/replica"
)

// userDirs finds the users of a maildir template: the directories that
// its {user} matches ("maildir:/home/{user}/Maildir" matches /home/alice
// when /home/alice/Maildir exists).
type userDirs struct {
	prefix, suffix string // the path before and after {user}
}

func newUserDirs(t batch.Template) (userDirs, bool) {
	path, ok := strings.CutPrefix(t.String(), "maildir:")
	if !ok || strings.Count(path, batch.UserVar) != 1 {
		return userDirs{}, false
	}
	prefix, suffix, _ := strings.Cut(path, batch.UserVar)
	return userDirs{prefix: prefix, suffix: suffix}, true
}

// base is the directory whose entries are the users.
func (u userDirs) base() string { return filepath.Dir(u.prefix + "x") }

// list returns the users whose store exists, by name; hidden
// directories are none.
func (u userDirs) list() ([]string, error) {
	ents, err := os.ReadDir(u.base())
	if err != nil {
		return nil, err
	}
	var users []string
	for _, e := range ents {
		name := strings.TrimPrefix(filepath.Join(u.base(), e.Name()), u.prefix)
		if !strings.HasPrefix(filepath.Join(u.base(), e.Name()), u.prefix) || strings.HasPrefix(name, ".") || batch.ValidUser(name) != nil {
			continue
		}
		if st, err := os.Stat(u.prefix + name + u.suffix); err == nil && st.IsDir() {
			users = append(users, name)
		}
	}
	slices.Sort(users)
	return users, nil
}

// watcher is a replica.Notifier over Maildir sources: inotify watches on
// each user's folders (the folder, its new/ and cur/; dovecot-uidlist is
// in the folder), and, for what the kernel's watch limit leaves
// unwatched, a periodic scan of their modification times.
type watcher struct {
	source batch.Template
	users  func() ([]string, error) // the users to watch, now
	dirs   *userDirs                // without -users: new users appear here
	scan   time.Duration            // the scan interval of unwatched folders and of the users
	log    *slog.Logger
	// onFallback is told how many folders are scanned, not watched.
	onFallback func(n int)

	mu struct {
		sync.Mutex
		paths   map[string]watched   // watched directory → what it holds
		users   map[string]bool      // users whose folders are watched or scanned
		scanned map[string]scanEntry // folder → what the last scan saw
		limited bool                 // the watch limit was hit (said once)
	}
}

// watched is what a watched directory belongs to.
type watched struct {
	user, mbox string
	root       bool // the user's Maildir root: new folders appear in it
}

// scanEntry is what a scan saw of a folder: the modification times of
// the folder, new/ and cur/.
type scanEntry struct {
	user, mbox string
	mtimes     [3]time.Time
}

var _ replica.Notifier = (*watcher)(nil)

// folderName is the mailbox of a Maildir++ folder directory (".A.B" is
// "A/B"), or "" when it is not one that can be told simply (the notice
// then covers the whole user).
func folderName(dir string) (string, bool) {
	if len(dir) < 2 || dir[0] != '.' || dir[1] == '.' {
		return "", false
	}
	if strings.ContainsAny(dir, "&/") {
		return "", true // modified UTF-7: let the sync find it
	}
	return strings.ReplaceAll(dir[1:], ".", string(mailbox.Delimiter)), true
}

// Watch watches until ctx ends.
func (w *watcher) Watch(ctx context.Context, notify func(replica.Notice)) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	w.mu.Lock()
	w.mu.paths = map[string]watched{}
	w.mu.users = map[string]bool{}
	w.mu.scanned = map[string]scanEntry{}
	w.mu.Unlock()
	if w.dirs != nil {
		if err := fw.Add(w.dirs.base()); err != nil {
			w.limit(err, w.dirs.base())
		}
	}
	w.addUsers(fw, notify, false)
	tick := time.NewTicker(w.scan)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			// An overflowed event queue loses events: every user is
			// announced, so nothing is missed.
			w.log.Warn("filesystem notifications", "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.mu.Lock()
				users := mapKeys(w.mu.users)
				w.mu.Unlock()
				for _, u := range users {
					notify(replica.Notice{User: u, Priority: replica.PriorityChange})
				}
			}
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			w.event(fw, ev, notify)
		case <-tick.C:
			w.addUsers(fw, notify, true)
			w.rescan(notify)
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// addUsers watches the users not watched yet; announce says that a new
// user's mail is announced (not on the first listing: the replicator's
// pass on start covers those).
func (w *watcher) addUsers(fw *fsnotify.Watcher, notify func(replica.Notice), announce bool) {
	users, err := w.users()
	if err != nil {
		w.log.Warn("the users could not be listed", "err", err)
		return
	}
	for _, u := range users {
		w.mu.Lock()
		known := w.mu.users[u]
		w.mu.users[u] = true
		w.mu.Unlock()
		if known {
			continue
		}
		root, err := w.source.Expand(u)
		if err != nil {
			continue
		}
		w.addFolder(fw, u, root, mailbox.Inbox, true)
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if mbox, ok := folderName(e.Name()); ok && e.IsDir() {
				w.addFolder(fw, u, filepath.Join(root, e.Name()), mbox, false)
			}
		}
		if announce {
			notify(replica.Notice{User: u, Priority: replica.PriorityChange})
		}
	}
}

// addFolder watches a folder, its new/ and cur/.
func (w *watcher) addFolder(fw *fsnotify.Watcher, user, dir, mbox string, root bool) {
	for i, d := range []string{dir, filepath.Join(dir, "new"), filepath.Join(dir, "cur")} {
		if err := fw.Add(d); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if w.limit(err, d) {
				w.mu.Lock()
				w.mu.scanned[dir] = scanEntry{user: user, mbox: mbox, mtimes: folderTimes(dir)}
				n := len(w.mu.scanned)
				w.mu.Unlock()
				if w.onFallback != nil {
					w.onFallback(n)
				}
				return
			}
			w.log.Warn("a folder cannot be watched", "user", user, "dir", d, "err", err)
			continue
		}
		w.mu.Lock()
		w.mu.paths[d] = watched{user: user, mbox: mbox, root: root && i == 0}
		w.mu.Unlock()
	}
}

// limit reports whether err is the kernel's watch limit, and says so the
// first time.
func (w *watcher) limit(err error, dir string) bool {
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EMFILE) {
		return false
	}
	w.mu.Lock()
	first := !w.mu.limited
	w.mu.limited = true
	w.mu.Unlock()
	if first {
		w.log.Warn("the kernel's limit of inotify watches is reached (raise fs.inotify.max_user_watches): folders not watched are scanned instead",
			"dir", dir, "scan_interval", w.scan, "err", err)
	}
	return true
}

// event turns a notification into a notice.
func (w *watcher) event(fw *fsnotify.Watcher, ev fsnotify.Event, notify func(replica.Notice)) {
	dir, name := filepath.Dir(ev.Name), filepath.Base(ev.Name)
	w.mu.Lock()
	wd, ok := w.mu.paths[dir]
	self, isSelf := w.mu.paths[ev.Name]
	w.mu.Unlock()
	if isSelf && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		// A watched directory went (a folder deleted or renamed): the
		// whole user is synced, which finds out what happened.
		w.mu.Lock()
		delete(w.mu.paths, ev.Name)
		w.mu.Unlock()
		notify(replica.Notice{User: self.user, Priority: replica.PriorityChange})
		return
	}
	if !ok {
		if w.dirs != nil && dir == w.dirs.base() && ev.Has(fsnotify.Create) {
			// Perhaps a new user: picked up now rather than at the next
			// scan.
			w.addUsers(fw, notify, true)
		}
		return
	}
	switch {
	case wd.root && ev.Has(fsnotify.Create):
		// A new folder in the user's root.
		if mbox, ok := folderName(name); ok {
			if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
				w.addFolder(fw, wd.user, ev.Name, mbox, false)
				notify(replica.Notice{User: wd.user, Mailbox: mbox, Priority: replica.PriorityChange})
			}
			return
		}
	}
	if strings.HasPrefix(name, ".") && name != ".uidvalidity" && !strings.HasPrefix(name, ".dovecot") {
		// A folder's directory, or a dotfile: the folder's own events
		// come from its watch.
		if _, ok := folderName(name); ok {
			return
		}
	}
	switch filepath.Base(dir) {
	case "new", "cur":
	default:
		// In the folder itself only the UID list and the keywords
		// matter, and the subscriptions in the root.
		switch {
		case strings.HasPrefix(name, "dovecot-uidlist"), strings.HasPrefix(name, "dovecot-keywords"):
		case name == "subscriptions" && wd.root:
			notify(replica.Notice{User: wd.user, Priority: replica.PriorityChange})
			return
		default:
			return
		}
	}
	notify(replica.Notice{User: wd.user, Mailbox: wd.mbox, Priority: replica.PriorityChange})
}

// rescan announces the scanned folders whose times moved.
func (w *watcher) rescan(notify func(replica.Notice)) {
	w.mu.Lock()
	var changed []scanEntry
	for dir, e := range w.mu.scanned {
		now := folderTimes(dir)
		if now != e.mtimes {
			e.mtimes = now
			w.mu.scanned[dir] = e
			changed = append(changed, e)
		}
	}
	w.mu.Unlock()
	for _, e := range changed {
		notify(replica.Notice{User: e.user, Mailbox: e.mbox, Priority: replica.PriorityChange})
	}
}

// folderTimes returns the modification times of a folder, its new/ and
// cur/: a delivery, a flag change (a rename in cur/) and an expunge each
// move one.
func folderTimes(dir string) [3]time.Time {
	var t [3]time.Time
	for i, d := range []string{dir, filepath.Join(dir, "new"), filepath.Join(dir, "cur")} {
		if st, err := os.Stat(d); err == nil {
			t[i] = st.ModTime()
		}
	}
	return t
}
