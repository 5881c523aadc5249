package q850

// Text is Asterisk's ast_cause2str for the causes a licensing bridge meets;
// others read "Unknown", as Asterisk says for causes it has no name for.
func Text(code int) string {
	switch code {
	case 1:
		return "Unallocated (unassigned) number"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 21:
		return "Call Rejected"
	case 27:
		return "Destination out of order"
	case 34:
		return "Circuit/channel congestion"
	case 38:
		return "Network out of order"
	case 41:
		return "Temporary failure"
	case 42:
		return "Switching equipment congestion"
	case 58:
		return "Bearer capability not available"
	case 65:
		return "Bearer capability not implemented"
	case 88:
		return "Incompatible destination"
	}
	return "Unknown"
}
