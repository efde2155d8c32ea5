// CloudNativePG's way of turning csvlog into JSON lines, as a peer for bench/convert.mjs: the
// standard library's encoding/csv into a struct of 26 omitempty string fields, json.Marshal per
// record, a buffered writer. Written for the benchmark (same output shape as `logs convert`).
// Usage: go build -o DIR/csvlog2json bench/peers/csvlog2json.go && DIR/csvlog2json FILE...
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"strings"
)

type record struct {
	LogTime              string `json:"log_time,omitempty"`
	UserName             string `json:"user_name,omitempty"`
	DatabaseName         string `json:"database_name,omitempty"`
	ProcessID            string `json:"process_id,omitempty"`
	ConnectionFrom       string `json:"connection_from,omitempty"`
	SessionID            string `json:"session_id,omitempty"`
	SessionLineNum       string `json:"session_line_num,omitempty"`
	CommandTag           string `json:"command_tag,omitempty"`
	SessionStartTime     string `json:"session_start_time,omitempty"`
	VirtualTransactionID string `json:"virtual_transaction_id,omitempty"`
	TransactionID        string `json:"transaction_id,omitempty"`
	ErrorSeverity        string `json:"error_severity,omitempty"`
	SQLStateCode         string `json:"sql_state_code,omitempty"`
	Message              string `json:"message,omitempty"`
	Detail               string `json:"detail,omitempty"`
	Hint                 string `json:"hint,omitempty"`
	InternalQuery        string `json:"internal_query,omitempty"`
	InternalQueryPos     string `json:"internal_query_pos,omitempty"`
	Context              string `json:"context,omitempty"`
	Query                string `json:"query,omitempty"`
	QueryPos             string `json:"query_pos,omitempty"`
	Location             string `json:"location,omitempty"`
	ApplicationName      string `json:"application_name,omitempty"`
	BackendType          string `json:"backend_type,omitempty"`
	LeaderPid            string `json:"leader_pid,omitempty"`
	QueryID              string `json:"query_id,omitempty"`
}

type line struct {
	Level      string  `json:"level"`
	Ts         string  `json:"ts"`
	Logger     string  `json:"logger"`
	Msg        string  `json:"msg"`
	LoggingPod string  `json:"logging_pod"`
	Record     *record `json:"record"`
}

func level(severity string) string {
	switch {
	case severity == "PANIC" || severity == "FATAL" || severity == "ERROR":
		return "error"
	case severity == "WARNING":
		return "warning"
	case strings.HasPrefix(severity, "DEBUG"):
		return "debug"
	}
	return "info"
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for _, name := range os.Args[1:] {
		file, err := os.Open(name)
		if err != nil {
			panic(err)
		}
		reader := csv.NewReader(bufio.NewReader(file))
		reader.FieldsPerRecord = -1 // PostgreSQL 13+ writes 26 columns, older ones fewer
		for {
			fields, err := reader.Read()
			if err == io.EOF {
				break
			} else if err != nil {
				panic(err)
			}
			for len(fields) < 26 {
				fields = append(fields, "")
			}
			r := record{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7], fields[8],
				fields[9], fields[10], fields[11], fields[12], fields[13], fields[14], fields[15], fields[16], fields[17],
				fields[18], fields[19], fields[20], fields[21], fields[22], fields[23], fields[24], fields[25]}
			bytes, err := json.Marshal(line{level(r.ErrorSeverity), r.LogTime, "postgres", "record", "bench", &r})
			if err != nil {
				panic(err)
			}
			out.Write(bytes)
			out.WriteByte('\n')
		}
		file.Close()
	}
}
