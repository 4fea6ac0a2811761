// OMS patch (infra/omsinfra.py copies this file into FerretDB v1.24.2 before building ferretdb-local).

package metadata

import (
	"fmt"
	"regexp"
)

// omsFieldName is a top-level field name that can be written into a SQLite JSON path without quoting.
var omsFieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// OMSField reports whether field is a top-level field that OMS indexes and pushdown handle.
func OMSField(field string) bool {
	return omsFieldName.MatchString(field)
}

// OMSType is the SQL expression of a top-level field's BSON type name as sjson records it
// ("string", "bool", "array", ...; NULL when the field is missing).
func OMSType(field string) string {
	return fmt.Sprintf(`%s->>'$."$s".p.%s.t'`, DefaultColumn, field)
}

// OMSValue is the SQL value of a top-level field: text for a string (unescaped), 1/0 for a bool,
// a number for numbers and dates, JSON text for objects and arrays, NULL for null or missing.
func OMSValue(field string) string {
	return fmt.Sprintf(`%s->>'$.%s'`, DefaultColumn, field)
}

// OMSString is the SQL expression that non-unique OMS indexes store for a top-level field:
// the field's text if its BSON type is string, else NULL. SQLite orders that text with memcmp,
// which is MongoDB's order of strings (binary UTF-8, no collation); every other type is NULL,
// so one index probe (IS NULL) tells whether any document has a non-string value there.
func OMSString(field string) string {
	return fmt.Sprintf(`(CASE WHEN %s = 'string' THEN %s END)`, OMSType(field), OMSValue(field))
}
