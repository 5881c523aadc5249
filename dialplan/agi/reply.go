package agi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Reply codes Asterisk answers a command with.
const (
	CodeOK             = 200 // command ran; see Result
	CodeInvalidCommand = 510 // unknown command
	CodeDeadChannel    = 511 // command not permitted on a dead channel
	CodeUsage          = 520 // wrong arguments; the text is the usage, over several lines
)

// Errors a command's reply maps to; a *ReplyError matches them with errors.Is.
var (
	ErrInvalidCommand = errors.New("invalid or unknown command (510)")
	ErrDeadChannel    = errors.New("not permitted on a dead channel (511)")
	ErrUsage          = errors.New("invalid command syntax (520)")
)

// hangupNotice is the line Asterisk sends, once and unasked, when the channel hangs
// up while a FastAGI session is open. It is not a reply to any command.
const hangupNotice = "HANGUP"

// Reply is Asterisk's answer to one command.
type Reply struct {
	Code int
	// Result is the value of result= in a 200 reply ("1", "0", "-1", "6", ...).
	Result string
	// Data is the text in parentheses after the result, as in `200 result=1 (g729)`;
	// HasData tells an empty value from no parentheses at all.
	Data    string
	HasData bool
	// Extra is what follows the result and the parentheses, e.g. `endpos=1234`.
	Extra string
	// Text is the message of a reply other than 200. For a multi-line reply
	// (`520-...` up to `520 ...`) it holds every line, joined with LF, without codes.
	Text string
}

// ReplyError is a reply other than 200 to a command.
type ReplyError struct {
	Command string // the command's verb words, e.g. "SET VARIABLE"
	Reply   Reply
}

func (e *ReplyError) Error() string {
	first, _, _ := strings.Cut(e.Reply.Text, "\n")
	return fmt.Sprintf("agi: %s: %d %s", e.Command, e.Reply.Code, first)
}

// ExecError is a 200 reply to EXEC whose result is negative: the application
// failed or does not exist (-2).
type ExecError struct {
	Command string // e.g. "EXEC MSet"
	Reply   Reply
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("agi: %s: result %s", e.Command, e.Reply.Result)
}

// Is maps the reply code to ErrInvalidCommand, ErrDeadChannel or ErrUsage.
func (e *ReplyError) Is(target error) bool {
	switch target {
	case ErrInvalidCommand:
		return e.Reply.Code == CodeInvalidCommand
	case ErrDeadChannel:
		return e.Reply.Code == CodeDeadChannel
	case ErrUsage:
		return e.Reply.Code == CodeUsage
	}
	return false
}

// readReply reads the reply to one command. Any HANGUP notice before it is consumed
// and reported with hangup=true, so that the notice never takes the place of a
// reply. A multi-line reply is read to its last line.
func readReply(r *bufio.Reader, lim Limits) (rep Reply, hangup bool, err error) {
	lim = lim.withDefaults()
	var line string
	for n := 0; ; n++ {
		if n > lim.MaxLines {
			return Reply{}, hangup, fmt.Errorf("agi: reply: more than %d HANGUP notices: %w", lim.MaxLines, ErrTooManyLines)
		}
		line, err = readLine(r, lim.MaxLine)
		if err != nil {
			return Reply{}, hangup, fmt.Errorf("agi: read reply: %w", err)
		}
		if line != hangupNotice {
			break
		}
		hangup = true
	}
	code, sep, rest, err := splitCode(line)
	if err != nil {
		return Reply{}, hangup, err
	}
	if sep == '-' {
		text, err := readContinuation(r, lim, code, rest)
		if err != nil {
			return Reply{}, hangup, err
		}
		return Reply{Code: code, Text: text}, hangup, nil
	}
	if code != CodeOK {
		return Reply{Code: code, Text: rest}, hangup, nil
	}
	rep, err = parseResult(rest)
	if err != nil {
		return Reply{}, hangup, fmt.Errorf("agi: reply %s: %w", clip(line), err)
	}
	return rep, hangup, nil
}

// parseReplyLine decodes a one-line reply such as `200 result=1 (g729)`. It is
// readReply without the reader, for callers that already split lines.
func parseReplyLine(line string) (Reply, error) {
	code, sep, rest, err := splitCode(line)
	if err != nil {
		return Reply{}, err
	}
	if sep == '-' {
		return Reply{}, fmt.Errorf("agi: reply %s: first line of a multi-line reply: %w", clip(line), ErrMalformed)
	}
	if code != CodeOK {
		return Reply{Code: code, Text: rest}, nil
	}
	rep, err := parseResult(rest)
	if err != nil {
		return Reply{}, fmt.Errorf("agi: reply %s: %w", clip(line), err)
	}
	return rep, nil
}

// splitCode splits "NNN text" or "NNN-text" into the code, the separator and the text.
func splitCode(line string) (code int, sep byte, rest string, err error) {
	if len(line) < 3 {
		return 0, 0, "", fmt.Errorf("agi: reply %s: no status code: %w", clip(line), ErrMalformed)
	}
	for i := 0; i < 3; i++ {
		if line[i] < '0' || line[i] > '9' {
			return 0, 0, "", fmt.Errorf("agi: reply %s: no status code: %w", clip(line), ErrMalformed)
		}
	}
	code, _ = strconv.Atoi(line[:3])
	if code < 100 {
		return 0, 0, "", fmt.Errorf("agi: reply %s: bad status code: %w", clip(line), ErrMalformed)
	}
	if len(line) == 3 {
		return code, ' ', "", nil
	}
	sep = line[3]
	if sep != ' ' && sep != '-' {
		return 0, 0, "", fmt.Errorf("agi: reply %s: no space after the status code: %w", clip(line), ErrMalformed)
	}
	return code, sep, line[4:], nil
}

// readContinuation reads the lines of a multi-line reply after its first, up to the
// line that starts with the same code and a space (Asterisk's `520 End of proper
// usage.`). Lines in between are free text and may look like replies themselves
// (`Example return code: 200 result=1 (testvariable)`).
func readContinuation(r *bufio.Reader, lim Limits, code int, first string) (string, error) {
	end := strconv.Itoa(code) + " "
	lines := []string{first}
	for {
		if len(lines) > lim.MaxLines {
			return "", fmt.Errorf("agi: %d reply: more than %d lines: %w", code, lim.MaxLines, ErrTooManyLines)
		}
		line, err := readLine(r, lim.MaxLine)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF // a reply cut short, not a clean end
			}
			return "", fmt.Errorf("agi: read %d reply line %d: %w", code, len(lines)+1, err)
		}
		if strings.HasPrefix(line, end) {
			lines = append(lines, line[len(end):])
			return strings.Join(lines, "\n"), nil
		}
		lines = append(lines, line)
	}
}

// parseResult decodes "result=R[ (data)][ extra]". The data is everything between
// the first '(' and the last ')', since a variable's value may itself hold
// parentheses: `200 result=1 (50% off: a=b (x))`.
func parseResult(rest string) (Reply, error) {
	v, ok := strings.CutPrefix(rest, "result=")
	if !ok {
		return Reply{}, fmt.Errorf("no result=: %w", ErrMalformed)
	}
	rep := Reply{Code: CodeOK}
	res, tail, _ := strings.Cut(v, " ")
	tail = strings.TrimLeft(tail, " ")
	if res == "" {
		return Reply{}, fmt.Errorf("empty result: %w", ErrMalformed)
	}
	rep.Result = res
	if strings.HasPrefix(tail, "(") {
		closeAt := strings.LastIndexByte(tail, ')')
		if closeAt < 0 {
			return Reply{}, fmt.Errorf("unclosed parenthesis: %w", ErrMalformed)
		}
		rep.Data, rep.HasData = tail[1:closeAt], true
		tail = tail[closeAt+1:]
	}
	rep.Extra = strings.TrimSpace(tail)
	return rep, nil
}
