package batch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUnsafeUser marks a user name that cannot name an account safely: it
// could lead a store template out of its directory, or it is empty or
// holds control characters.
var ErrUnsafeUser = errors.New("batch: unsafe user name")

// MaxUserLen is the longest user name accepted, in bytes: the longest
// name of one directory on common file systems.
const MaxUserLen = 255

// ValidUser reports why name cannot name an account, or nil. A name must
// not be empty, ".", hold "..", '/' or '\', control characters or invalid
// UTF-8, nor be longer than MaxUserLen bytes. The error wraps
// ErrUnsafeUser.
func ValidUser(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty name"
	case len(name) > MaxUserLen:
		why = fmt.Sprintf("longer than %d bytes", MaxUserLen)
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case name == ".":
		why = `"." names the directory itself`
	case strings.Contains(name, ".."):
		why = `holds ".." (could leave the store's directory)`
	case strings.ContainsAny(name, `/\`):
		why = `holds a '/' or '\' (could leave the store's directory)`
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		why = "holds a control character"
	default:
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrUnsafeUser, name, why)
}

// ReadUsers reads a users file: one user name per line. Surrounding
// spaces and tabs and a line's CR are dropped; blank lines, and lines
// whose first other character is '#', are skipped. A byte-order mark at
// the start is ignored. Names are returned as written, unsafe ones
// included, in order, each once (a name listed again is dropped): a batch
// reports an unsafe name as that user's failure (see ValidUser) rather
// than refusing the whole file. name names the input in errors.
func ReadUsers(r io.Reader, name string) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var users []string
	seen := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		line = strings.Trim(line, " \t\r")
		if line == "" || line[0] == '#' || seen[line] {
			continue
		}
		seen[line] = true
		users = append(users, line)
	}
	if err := sc.Err(); err != nil {
		return users, fmt.Errorf("batch: read users from %s: %w", name, err)
	}
	return users, nil
}

// ReadUsersFile reads the users file at path (see ReadUsers); "-" reads
// stdin.
func ReadUsersFile(path string, stdin io.Reader) ([]string, error) {
	if path == "-" {
		return ReadUsers(stdin, "standard input")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("batch: users file: %w", err)
	}
	defer f.Close()
	return ReadUsers(f, path)
}

// CheckArgs returns an error for a command-line argument left after the
// flags that looks like a flag ("-recover" after a user name: the flag
// package stops at the first name, and the flag would be taken for a
// user, silently not applied).
func CheckArgs(args []string) error {
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			return fmt.Errorf("%q comes after a user name: flags go before the users", a)
		}
	}
	return nil
}
