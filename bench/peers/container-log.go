// Reads its stdin the way containerd's CRI logger reads a container's stdout, for bench/pgbench.mjs:
// a buffered reader, and each line written to the log file with a write of its own in the CRI format
// `<RFC 3339 time> stdout F <line>`; a line longer than 16 KiB goes out in `P` pieces first. Go, as
// containerd is, so the reader costs what a node's runtime costs, not what a script would. Prints the
// records and bytes it wrote when stdin ends.
//
// With --discard instead of a file it is the cheapest reader there can be: 1 MiB reads, lines counted,
// nothing written. bench/pgbench.mjs runs it to tell the manager's own cost from the runtime's.
// Usage: go build -o DIR/container-log bench/peers/container-log.go && ... | DIR/container-log FILE|--discard
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

const maxLineBytes = 16 * 1024

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: container-log FILE|--discard")
		os.Exit(2)
	}
	if os.Args[1] == "--discard" {
		discard()
		return
	}
	out, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The buffer is the longest line kept whole: ReadSlice hands over a full buffer as a piece.
	in := bufio.NewReaderSize(os.Stdin, maxLineBytes)
	var record []byte
	lines, written := 0, 0
	write := func(tag string, body []byte) {
		record = time.Now().UTC().AppendFormat(record[:0], time.RFC3339Nano)
		record = append(record, " stdout "...)
		record = append(record, tag...)
		record = append(record, ' ')
		record = append(record, body...)
		record = append(record, '\n')
		n, err := out.Write(record)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		written += n
	}
	for {
		line, err := in.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			write("P", line)
			continue
		case errors.Is(err, io.EOF):
			if len(line) > 0 {
				write("F", line)
				lines++
			}
		case err != nil:
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		default:
			write("F", line[:len(line)-1])
			lines++
			continue
		}
		break
	}
	if err := out.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("{\"lines\":%d,\"bytes\":%d}\n", lines, written)
}

func discard() {
	buffer := make([]byte, 1024*1024)
	lines, read := 0, 0
	for {
		n, err := os.Stdin.Read(buffer)
		lines += bytes.Count(buffer[:n], []byte{'\n'})
		read += n
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Printf("{\"lines\":%d,\"bytes\":%d}\n", lines, read)
}
