package batch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/mailrepl/mailrepl/replica"
)

// Users returns the users of a batch: those of the users file (when file
// is not empty; "-" reads stdin), then the names given on the command
// line that the file does not list.
func Users(file string, stdin io.Reader, names []string) ([]string, error) {
	var users []string
	if file != "" {
		u, err := ReadUsersFile(file, stdin)
		if err != nil {
			return nil, err
		}
		users = u
	}
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		seen[u] = true
	}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			users = append(users, n)
		}
	}
	return users, nil
}

// AcquireSlots waits for a slot on each server of h (Config.ServerConns),
// or for the batch to stop (stop closed), and returns the function that
// gives the slots back. A stop makes the error wrap replica.ErrStopped.
func AcquireSlots(ctx context.Context, h *ratelimit.Handle, stop <-chan struct{}) (release func(), err error) {
	slotCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-slotCtx.Done():
		}
	}()
	release, err = h.Acquire(slotCtx)
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w while waiting for a server slot", replica.ErrStopped)
	}
	return release, err
}

// CloseStore closes a store, logging an error to logger.
func CloseStore(s ReadCloser, logger *slog.Logger) {
	if err := s.Close(); err != nil {
		logger.Warn("close", "err", err)
	}
}

// ShowProgress sends the progress to w: a live line when w is a terminal
// (cut to its width), else a line every Interval.
func (o *Options) ShowProgress(w io.Writer) {
	o.Progress = w
	if f, ok := w.(*os.File); ok {
		o.Terminal = IsTerminal(f)
		o.Width = TerminalWidth(f)
	}
}

// SwitchWriter writes to a writer that can be switched: log lines of a
// program go to standard error until its Runner exists, then through
// [Runner.Log], so that they keep clear of the progress line.
type SwitchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewSwitchWriter returns a SwitchWriter writing to w.
func NewSwitchWriter(w io.Writer) *SwitchWriter { return &SwitchWriter{w: w} }

func (s *SwitchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(p)
}

// Set switches to w.
func (s *SwitchWriter) Set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}
