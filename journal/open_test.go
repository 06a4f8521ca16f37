package journal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/stretchr/testify/require"
)

func TestOpenInUseByThisProcess(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	_, err := Open(dir, nil)
	require.ErrorIs(t, err, ErrInUse)
	require.Contains(t, err.Error(), dir)
	require.Contains(t, err.Error(), filepath.Join(dir, "LOCK"))
}

func TestOpenInUseByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=hold", crashDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "child: %s", stderr.String())
	require.Equal(t, "ready\n", line)

	_, err = Open(dir, nil)
	require.ErrorIs(t, err, ErrInUse)
	require.Contains(t, err.Error(), dir)
	t.Log(err)

	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait(), "child: %s", stderr.String())
	j, err := Open(dir, nil)
	require.NoError(t, err, "free once the other process closed it")
	require.NoError(t, j.Close())
}

func TestOpenRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "cur"), 0o755))
	_, err := Open(dir, nil)
	require.ErrorIs(t, err, ErrNotJournal)
	require.Contains(t, err.Error(), `"cur"`)

	// The engine's files alone, as a creation cut short leaves them, are
	// fine.
	dir = t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "LOCK"), nil, 0o644))
	j, err := Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, j.Close())
}

func TestOptionsValidate(t *testing.T) {
	err := (&Options{GroupCommitWindow: -1, CacheSize: -5}).Validate()
	require.ErrorIs(t, err, ErrInvalid)
	require.Contains(t, err.Error(), "GroupCommitWindow")
	require.Contains(t, err.Error(), "CacheSize")
	_, err = Open(t.TempDir(), &Options{CacheSize: -1})
	require.ErrorIs(t, err, ErrInvalid)
	require.NoError(t, (*Options)(nil).Validate())
}

// specWith returns a format spec that writes version current and upgrades
// from oldest with steps.
func specWith(current, oldest uint64, steps map[uint64]upgradeStep) formatSpec {
	return formatSpec{current: current, oldest: oldest, steps: steps}
}

func TestFormatTooNew(t *testing.T) {
	fs := vfs.NewMem()
	newer := uint64(FormatVersion + 1)
	j, err := open("db", fs, nil, specWith(newer, 1, nil))
	require.NoError(t, err)
	require.NoError(t, j.Close())

	_, err = open("db", fs, nil, currentFormat)
	require.ErrorIs(t, err, ErrFormatTooNew)
	require.Contains(t, err.Error(), "db")
	require.Contains(t, err.Error(), fmt.Sprintf("found version %d", newer))
	require.Contains(t, err.Error(), fmt.Sprintf("reads versions 1 to %d", FormatVersion))

	// It changed nothing: the newer build still opens it.
	j, err = open("db", fs, nil, specWith(newer, 1, nil))
	require.NoError(t, err)
	require.NoError(t, j.Close())
}

func TestFormatTooOld(t *testing.T) {
	fs := vfs.NewMem()
	j, err := open("db", fs, nil, specWith(1, 1, nil))
	require.NoError(t, err)
	require.NoError(t, j.Close())
	_, err = open("db", fs, nil, specWith(5, 3, nil))
	require.ErrorIs(t, err, ErrFormatTooOld)
	require.Contains(t, err.Error(), "found version 1, this build reads versions 3 to 5")
}

// TestFormatUpgradeStepByStep writes a journal in a synthetic version 1,
// then opens it with a build whose version is 3: step 1→2 renames a
// record, step 2→3 reads what 1→2 wrote. A failing step leaves the
// journal at the last version reached, and the next open resumes there.
func TestFormatUpgradeStepByStep(t *testing.T) {
	fs := vfs.NewMem()
	j, err := open("db", fs, nil, specWith(1, 1, nil))
	require.NoError(t, err)
	_, err = j.Append(bg, ev("u", "INBOX", KindCreate))
	require.NoError(t, err)
	require.NoError(t, j.db.Set([]byte("\xf0old"), []byte("v1"), pebble.Sync))
	require.NoError(t, j.Close())

	var ran []string
	step1 := func(b *pebble.Batch) error {
		ran = append(ran, "1→2")
		v, found, err := getFrom(b, []byte("\xf0old"))
		if err != nil || !found {
			return errors.New("step 1: old record missing")
		}
		return firstErr(b.Delete([]byte("\xf0old"), nil), b.Set([]byte("\xf0new"), append(v, "+v2"...), nil))
	}
	failing := errors.New("disk on fire")
	step2 := func(b *pebble.Batch) error {
		ran = append(ran, "2→3")
		return failing
	}
	_, err = open("db", fs, nil, specWith(3, 1, map[uint64]upgradeStep{1: step1, 2: step2}))
	require.ErrorIs(t, err, failing)
	require.Contains(t, err.Error(), "upgrade format 2 to 3")
	require.Equal(t, []string{"1→2", "2→3"}, ran)

	// Version 2 was committed: a build that stops at 2 opens it as is.
	j, err = open("db", fs, nil, specWith(2, 1, nil))
	require.NoError(t, err)
	v, _, err := j.get([]byte("\xf0new"))
	require.NoError(t, err)
	require.Equal(t, "v1+v2", string(v))
	require.NoError(t, j.Close())

	ran = nil
	step2 = func(b *pebble.Batch) error {
		ran = append(ran, "2→3")
		v, found, err := getFrom(b, []byte("\xf0new"))
		if err != nil || !found {
			return errors.New("step 2: record of step 1 missing")
		}
		return b.Set([]byte("\xf0new"), append(v, "+v3"...), nil)
	}
	j, err = open("db", fs, nil, specWith(3, 1, map[uint64]upgradeStep{1: step1, 2: step2}))
	require.NoError(t, err)
	require.Equal(t, []string{"2→3"}, ran, "resumes at the version reached")
	v, _, err = j.get([]byte("\xf0new"))
	require.NoError(t, err)
	require.Equal(t, "v1+v2+v3", string(v))
	require.Len(t, collect(t, j.Events(bg, 0)), 1, "records keep their meaning")
	require.NoError(t, j.Close())

	ran = nil
	j, err = open("db", fs, nil, specWith(3, 1, map[uint64]upgradeStep{1: step1, 2: step2}))
	require.NoError(t, err)
	require.Empty(t, ran, "an upgraded journal is not upgraded again")
	require.NoError(t, j.Close())

	_, err = open("db", fs, nil, specWith(4, 1, map[uint64]upgradeStep{1: step1, 2: step2}))
	require.ErrorContains(t, err, "no upgrade from format version 3 to 4")
}

func TestOpenDamaged(t *testing.T) {
	// Each case writes a journal with records in a table file, damages
	// it, and expects an error naming the damage, never a panic.
	setup := func(t *testing.T) (vfs.FS, string) {
		fs := vfs.NewMem()
		j, err := open("db", fs, nil, currentFormat)
		require.NoError(t, err)
		b := j.NewBatch()
		for i := range 300 {
			b.Append(ev("u", "INBOX", KindAppend))
			b.PutEntry("p", "m", entry(uidOf(i+1), uidOf(i+1)))
		}
		_, err = b.Commit(bg)
		require.NoError(t, err)
		require.NoError(t, j.Close()) // flushes into a table file
		return fs, "db"
	}
	find := func(t *testing.T, fs vfs.FS, dir, prefix, suffix string) string {
		names, err := fs.List(dir)
		require.NoError(t, err)
		for _, n := range names {
			if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
				return fs.PathJoin(dir, n)
			}
		}
		t.Fatalf("no %s*%s in %v", prefix, suffix, names)
		return ""
	}
	damage := func(t *testing.T, fs vfs.FS, path string, from, to int) {
		f, err := fs.Open(path)
		require.NoError(t, err)
		st, err := f.Stat()
		require.NoError(t, err)
		data := make([]byte, st.Size())
		_, err = f.ReadAt(data, 0)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		for i := from * len(data) / 100; i < to*len(data)/100; i++ {
			data[i] ^= 0x5a
		}
		w, err := fs.Create(path, vfs.WriteCategoryUnspecified)
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
		require.NoError(t, w.Close())
	}
	readAll := func(j *Journal) error {
		for _, err := range j.Events(bg, 0) {
			if err != nil {
				return err
			}
		}
		for _, err := range j.State(bg, "p", "m") {
			if err != nil {
				return err
			}
		}
		return nil
	}

	t.Run("manifest", func(t *testing.T) {
		fs, dir := setup(t)
		path := find(t, fs, dir, "MANIFEST-", "")
		damage(t, fs, path, 10, 90)
		_, err := open(dir, fs, nil, currentFormat)
		require.ErrorIs(t, err, ErrCorrupt)
		require.ErrorIs(t, err, mailbox.ErrCorrupt)
		require.Contains(t, err.Error(), filepath.Base(path))
		t.Log(err)
	})
	t.Run("table file", func(t *testing.T) {
		fs, dir := setup(t)
		path := find(t, fs, dir, "", ".sst")
		damage(t, fs, path, 0, 50)
		j, err := open(dir, fs, nil, currentFormat)
		if err == nil {
			err = readAll(j)
			require.NoError(t, j.Close())
		}
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), strings.TrimSuffix(filepath.Base(path), ".sst"))
		t.Log(err)
	})
	t.Run("record", func(t *testing.T) {
		fs, dir := setup(t)
		j, err := open(dir, fs, nil, currentFormat)
		require.NoError(t, err)
		require.NoError(t, j.db.Set(eventKey(7), []byte{recEvent, 0xff}, pebble.Sync))
		require.NoError(t, j.db.Set(entryKey(tEntry, "p", "m", 9), []byte{recEntry, 9, 10}, pebble.Sync))
		var errs []error
		for _, err := range j.Events(bg, 0) {
			if err != nil {
				errs = append(errs, err)
			}
		}
		for _, err := range j.State(bg, "p", "m") {
			if err != nil {
				errs = append(errs, err)
			}
		}
		_, _, err = j.Entry("p", "m", 9)
		errs = append(errs, err)
		// A batch that meets the damaged record fails alone.
		b := j.NewBatch()
		b.PutEntry("p", "m", entry(9, 9))
		_, err = b.Commit(bg)
		errs = append(errs, err)
		require.Len(t, errs, 4)
		for _, err := range errs {
			require.ErrorIs(t, err, ErrCorrupt)
			require.Contains(t, err.Error(), dir)
			t.Log(err)
		}
		require.Contains(t, errs[0].Error(), "event record")
		require.Contains(t, errs[1].Error(), "state entry record")
		_, err = j.Append(bg, ev("u", "INBOX", KindCreate))
		require.NoError(t, err, "the rest works")
		// Reset removes damaged state without reading it.
		require.NoError(t, j.Reset(bg, "p"))
		require.Empty(t, collect(t, j.State(bg, "p", "m")))
		require.NoError(t, j.Close())
	})
	t.Run("format key missing", func(t *testing.T) {
		fs, dir := setup(t)
		j, err := open(dir, fs, nil, currentFormat)
		require.NoError(t, err)
		require.NoError(t, j.db.Delete(keyFormat, pebble.Sync))
		require.NoError(t, j.Close())
		_, err = open(dir, fs, nil, currentFormat)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), "no format version")
	})
	t.Run("format key damaged", func(t *testing.T) {
		fs, dir := setup(t)
		j, err := open(dir, fs, nil, currentFormat)
		require.NoError(t, err)
		require.NoError(t, j.db.Set(keyFormat, []byte{recFormat, 0x80}, pebble.Sync))
		require.NoError(t, j.Close())
		_, err = open(dir, fs, nil, currentFormat)
		require.ErrorIs(t, err, ErrCorrupt)
		require.Contains(t, err.Error(), "format version")
	})
	t.Run("event below truncation point", func(t *testing.T) {
		fs, dir := setup(t)
		j, err := open(dir, fs, nil, currentFormat)
		require.NoError(t, err)
		require.NoError(t, j.db.Set(keyTruncated, encodeSeq(recTruncated, 5), pebble.Sync))
		require.NoError(t, j.Close())
		_, err = open(dir, fs, nil, currentFormat)
		require.ErrorIs(t, err, ErrCorrupt)
	})
}
