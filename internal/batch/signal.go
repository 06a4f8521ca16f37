package batch

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Interrupts turns SIGINT and SIGTERM into a graceful stop: the first
// closes stop (a batch finishes the messages in flight, commits its state
// and exits; give stop to the Runner and to each job), a second cancels
// the returned context (operations in flight are abandoned; the next run
// still converges). Each is announced on log. Call release when done, to
// restore the default handling.
func Interrupts(ctx context.Context, log io.Writer) (_ context.Context, stop <-chan struct{}, release func()) {
	ctx, cancel := context.WithCancel(ctx)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	stopCh := make(chan struct{})
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case sig := <-sigs:
				n++
				if n == 1 {
					fmt.Fprintf(log, "%v: stopping: finishing the messages in flight and saving the state (again to abort at once)\n", sig)
					close(stopCh)
					continue
				}
				fmt.Fprintf(log, "%v: aborting\n", sig)
				cancel()
				return
			case <-done:
				return
			}
		}
	}()
	return ctx, stopCh, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
