package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// PicklistValue is one entry of a picklist field, as describe shows it.
type PicklistValue struct {
	Active       bool    `json:"active"`
	DefaultValue bool    `json:"defaultValue"`
	Label        string  `json:"label"`
	ValidFor     *string `json:"validFor"`
	Value        string  `json:"value"`
}

// Field is one field of an sObject; the attribute names are describe's.
type Field struct {
	Name               string
	Label              string
	Type               string
	Length             int
	Precision          int
	Scale              int
	Digits             int
	ExternalId         bool
	IdLookup           bool
	Unique             bool
	CaseSensitive      bool
	Nillable           bool
	Createable         bool
	Updateable         bool
	DefaultedOnCreate  bool
	Calculated         bool
	Custom             bool
	RestrictedPicklist bool
	PicklistValues     []PicklistValue
	ReferenceTo        []string
	RelationshipName   string
	DefaultValue       any
	system             bool // maintained by the sim (Id, audit fields, IsDeleted, computed Name)
}

// indexed fields keep a value -> ids index (external ids, unique fields).
func (f *Field) indexed() bool { return f.ExternalId || f.Unique }

// requiredOnCreate is describe's documented rule.
func (f *Field) requiredOnCreate() bool {
	return f.Createable && !f.Nillable && !f.DefaultedOnCreate
}

// Object is an sObject type.
type Object struct {
	Name        string
	Label       string
	LabelPlural string
	KeyPrefix   string
	Custom      bool
	Fields      []*Field
	byLower     map[string]*Field
}

func (o *Object) field(name string) *Field { return o.byLower[strings.ToLower(name)] }

func (o *Object) addField(f *Field) {
	if old := o.field(f.Name); old != nil {
		*old = *f
		return
	}
	o.Fields = append(o.Fields, f)
	o.byLower[strings.ToLower(f.Name)] = f
}

// relationship finds the reference field whose relationshipName is rel.
func (o *Object) relationship(rel string) *Field {
	for _, f := range o.Fields {
		if f.Type == "reference" && f.RelationshipName != "" && strings.EqualFold(f.RelationshipName, rel) {
			return f
		}
	}
	return nil
}

// Schema is the set of sObjects the sim serves.
type Schema struct {
	Objects  map[string]*Object // by lower-case name
	byPrefix map[string]*Object
	nCustom  int
}

func (s *Schema) object(name string) *Object { return s.Objects[strings.ToLower(name)] }

func (s *Schema) objectByIdPrefix(id string) *Object {
	if len(id) < 3 {
		return nil
	}
	return s.byPrefix[id[:3]]
}

func (s *Schema) sortedNames() []string {
	names := make([]string, 0, len(s.Objects))
	for _, o := range s.Objects {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names
}

func newObject(name, label, plural, prefix string, custom bool) *Object {
	return &Object{Name: name, Label: label, LabelPlural: plural, KeyPrefix: prefix, Custom: custom, byLower: map[string]*Field{}}
}

func (s *Schema) add(o *Object) {
	s.Objects[strings.ToLower(o.Name)] = o
	s.byPrefix[o.KeyPrefix] = o
}

// Field constructors for the standard objects.
func fText(name, label string, length int) *Field {
	return &Field{Name: name, Label: label, Type: "string", Length: length, Nillable: true, Createable: true, Updateable: true}
}

func fTyped(typ, name, label string, length int) *Field {
	f := fText(name, label, length)
	f.Type = typ
	return f
}

func fNum(typ, name, label string, precision, scale int) *Field {
	f := &Field{Name: name, Label: label, Type: typ, Nillable: true, Createable: true, Updateable: true}
	if typ == "int" {
		f.Digits = precision
	} else {
		f.Precision, f.Scale = precision, scale
	}
	return f
}

func fBool(name, label string) *Field {
	return &Field{Name: name, Label: label, Type: "boolean", Createable: true, Updateable: true, DefaultedOnCreate: true, DefaultValue: false}
}

func fPick(name, label string, values ...string) *Field {
	f := fTyped("picklist", name, label, 255)
	for _, v := range values {
		f.PicklistValues = append(f.PicklistValues, PicklistValue{Active: true, Label: v, Value: v})
	}
	return f
}

func fRef(name, label, rel string, to ...string) *Field {
	return &Field{Name: name, Label: label, Type: "reference", Length: 18, Nillable: true, Createable: true, Updateable: true, ReferenceTo: to, RelationshipName: rel}
}

func required(f *Field) *Field { f.Nillable = false; return f }
func lookup(f *Field) *Field   { f.IdLookup = true; return f }

// systemFields are on every object: Id, owner, audit fields.
func addSystemFields(o *Object, owner bool) {
	o.addField(&Field{Name: "Id", Label: o.Label + " ID", Type: "id", Length: 18, DefaultedOnCreate: true, IdLookup: true, system: true})
	o.addField(&Field{Name: "IsDeleted", Label: "Deleted", Type: "boolean", DefaultedOnCreate: true, system: true, DefaultValue: false})
	if owner {
		f := fRef("OwnerId", "Owner ID", "Owner", "User")
		f.Nillable = false
		f.DefaultedOnCreate = true
		o.addField(f)
	}
	o.addField(&Field{Name: "CreatedDate", Label: "Created Date", Type: "datetime", DefaultedOnCreate: true, system: true})
	o.addField(&Field{Name: "CreatedById", Label: "Created By ID", Type: "reference", Length: 18, DefaultedOnCreate: true, ReferenceTo: []string{"User"}, RelationshipName: "CreatedBy", system: true})
	o.addField(&Field{Name: "LastModifiedDate", Label: "Last Modified Date", Type: "datetime", DefaultedOnCreate: true, system: true})
	o.addField(&Field{Name: "LastModifiedById", Label: "Last Modified By ID", Type: "reference", Length: 18, DefaultedOnCreate: true, ReferenceTo: []string{"User"}, RelationshipName: "LastModifiedBy", system: true})
	o.addField(&Field{Name: "SystemModstamp", Label: "System Modstamp", Type: "datetime", DefaultedOnCreate: true, system: true})
}

func computedName(length int) *Field {
	return &Field{Name: "Name", Label: "Full Name", Type: "string", Length: length, IdLookup: true, system: true, Calculated: false}
}

// defaultSchema holds Account, Contact and Lead with their common standard fields.
func defaultSchema() *Schema {
	s := &Schema{Objects: map[string]*Object{}, byPrefix: map[string]*Object{}}
	industries := []string{"Agriculture", "Banking", "Chemicals", "Communications", "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering", "Finance", "Healthcare", "Insurance", "Manufacturing", "Media", "Retail", "Technology", "Transportation", "Other"}
	sources := []string{"Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"}

	a := newObject("Account", "Account", "Accounts", "001", false)
	addSystemFields(a, true)
	a.addField(lookup(required(fText("Name", "Account Name", 255))))
	a.addField(fPick("Type", "Account Type", "Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other"))
	a.addField(fRef("ParentId", "Parent Account ID", "Parent", "Account"))
	a.addField(fText("AccountNumber", "Account Number", 40))
	a.addField(fPick("Industry", "Industry", industries...))
	a.addField(fNum("currency", "AnnualRevenue", "Annual Revenue", 18, 0))
	a.addField(fNum("int", "NumberOfEmployees", "Employees", 8, 0))
	a.addField(fTyped("phone", "Phone", "Account Phone", 40))
	a.addField(fTyped("phone", "Fax", "Account Fax", 40))
	a.addField(fTyped("url", "Website", "Website", 255))
	a.addField(fTyped("textarea", "BillingStreet", "Billing Street", 255))
	a.addField(fText("BillingCity", "Billing City", 40))
	a.addField(fText("BillingState", "Billing State/Province", 80))
	a.addField(fText("BillingPostalCode", "Billing Zip/Postal Code", 20))
	a.addField(fText("BillingCountry", "Billing Country", 80))
	a.addField(fPick("Rating", "Account Rating", "Hot", "Warm", "Cold"))
	a.addField(fPick("AccountSource", "Account Source", sources...))
	a.addField(fTyped("textarea", "Description", "Account Description", 32000))
	s.add(a)

	c := newObject("Contact", "Contact", "Contacts", "003", false)
	addSystemFields(c, true)
	c.addField(fRef("AccountId", "Account ID", "Account", "Account"))
	c.addField(required(fText("LastName", "Last Name", 80)))
	c.addField(fText("FirstName", "First Name", 40))
	c.addField(fPick("Salutation", "Salutation", "Mr.", "Ms.", "Mrs.", "Dr.", "Prof."))
	c.addField(computedName(121))
	c.addField(lookup(fTyped("email", "Email", "Email", 80)))
	c.addField(fTyped("phone", "Phone", "Business Phone", 40))
	c.addField(fTyped("phone", "MobilePhone", "Mobile Phone", 40))
	c.addField(fText("Title", "Title", 128))
	c.addField(fText("Department", "Department", 80))
	c.addField(fTyped("date", "Birthdate", "Birthdate", 0))
	c.addField(fPick("LeadSource", "Lead Source", sources...))
	c.addField(fBool("HasOptedOutOfEmail", "Email Opt Out"))
	c.addField(fBool("DoNotCall", "Do Not Call"))
	c.addField(fTyped("textarea", "MailingStreet", "Mailing Street", 255))
	c.addField(fText("MailingCity", "Mailing City", 40))
	c.addField(fText("MailingPostalCode", "Mailing Zip/Postal Code", 20))
	c.addField(fText("MailingCountry", "Mailing Country", 80))
	c.addField(fTyped("textarea", "Description", "Contact Description", 32000))
	s.add(c)

	l := newObject("Lead", "Lead", "Leads", "00Q", false)
	addSystemFields(l, true)
	l.addField(required(fText("LastName", "Last Name", 80)))
	l.addField(fText("FirstName", "First Name", 40))
	l.addField(fPick("Salutation", "Salutation", "Mr.", "Ms.", "Mrs.", "Dr.", "Prof."))
	l.addField(computedName(121))
	l.addField(fText("Title", "Title", 128))
	l.addField(required(fText("Company", "Company", 255)))
	l.addField(lookup(fTyped("email", "Email", "Email", 80)))
	l.addField(fTyped("phone", "Phone", "Phone", 40))
	l.addField(fTyped("phone", "MobilePhone", "Mobile Phone", 40))
	l.addField(fTyped("url", "Website", "Website", 255))
	st := required(fPick("Status", "Status", "Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"))
	st.DefaultedOnCreate = true
	st.PicklistValues[0].DefaultValue = true
	st.DefaultValue = "Open - Not Contacted"
	l.addField(st)
	l.addField(fPick("LeadSource", "Lead Source", sources...))
	l.addField(fPick("Industry", "Industry", industries...))
	l.addField(fPick("Rating", "Rating", "Hot", "Warm", "Cold"))
	l.addField(fNum("currency", "AnnualRevenue", "Annual Revenue", 18, 0))
	l.addField(fNum("int", "NumberOfEmployees", "Employees", 8, 0))
	l.addField(fText("City", "City", 40))
	l.addField(fText("Country", "Country", 80))
	l.addField(fBool("HasOptedOutOfEmail", "Email Opt Out"))
	l.addField(&Field{Name: "IsConverted", Label: "Converted", Type: "boolean", DefaultedOnCreate: true, Createable: true, DefaultValue: false})
	l.addField(fTyped("textarea", "Description", "Description", 32000))
	s.add(l)

	// User holds the one integration user every session runs as, so that OwnerId,
	// CreatedById and Owner.Name resolve as in an org.
	u := newObject("User", "User", "Users", "005", false)
	u.addField(&Field{Name: "Id", Label: "User ID", Type: "id", Length: 18, DefaultedOnCreate: true, IdLookup: true, system: true})
	u.addField(lookup(required(fText("Username", "Username", 80))))
	u.addField(required(fText("LastName", "Last Name", 80)))
	u.addField(fText("FirstName", "First Name", 40))
	u.addField(computedName(121))
	u.addField(lookup(required(fTyped("email", "Email", "Email", 128))))
	u.addField(required(fText("Alias", "Alias", 8)))
	u.addField(fBool("IsActive", "Active"))
	for _, n := range []string{"CreatedDate", "LastModifiedDate", "SystemModstamp"} {
		u.addField(&Field{Name: n, Label: n, Type: "datetime", DefaultedOnCreate: true, system: true})
	}
	s.add(u)
	return s
}

// schemaFile is the --schema JSON: {"objects": {"Name": {"label": ..., "fields": [...]}}}.
type schemaFile struct {
	Objects map[string]struct {
		Label       string            `json:"label"`
		LabelPlural string            `json:"labelPlural"`
		Fields      []json.RawMessage `json:"fields"`
	} `json:"objects"`
}

type fieldSpec struct {
	Name               string          `json:"name"`
	Label              string          `json:"label"`
	Type               string          `json:"type"`
	Length             *int            `json:"length"`
	Precision          *int            `json:"precision"`
	Scale              *int            `json:"scale"`
	Digits             *int            `json:"digits"`
	ExternalId         *bool           `json:"externalId"`
	IdLookup           *bool           `json:"idLookup"`
	Unique             *bool           `json:"unique"`
	CaseSensitive      *bool           `json:"caseSensitive"`
	Nillable           *bool           `json:"nillable"`
	Createable         *bool           `json:"createable"`
	Updateable         *bool           `json:"updateable"`
	DefaultedOnCreate  *bool           `json:"defaultedOnCreate"`
	RestrictedPicklist *bool           `json:"restrictedPicklist"`
	PicklistValues     json.RawMessage `json:"picklistValues"`
	ReferenceTo        []string        `json:"referenceTo"`
	RelationshipName   string          `json:"relationshipName"`
	DefaultValue       any             `json:"defaultValue"`
}

var knownTypes = map[string]bool{"string": true, "email": true, "boolean": true, "int": true, "double": true, "currency": true,
	"percent": true, "date": true, "datetime": true, "picklist": true, "multipicklist": true, "textarea": true, "phone": true,
	"url": true, "id": true, "reference": true, "long": true, "combobox": true}

func boolOr(p *bool, d bool) bool {
	if p == nil {
		return d
	}
	return *p
}

func intOr(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

// loadSchemaFile merges a --schema file into s: new fields on existing objects,
// unknown objects become custom objects with the next a0X key prefix.
func loadSchemaFile(s *Schema, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var sf schemaFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	names := make([]string, 0, len(sf.Objects))
	for n := range sf.Objects {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		spec := sf.Objects[name]
		o := s.object(name)
		if o == nil {
			label := spec.Label
			if label == "" {
				label = strings.ReplaceAll(strings.TrimSuffix(name, "__c"), "_", " ")
			}
			plural := spec.LabelPlural
			if plural == "" {
				plural = label + "s"
			}
			o = newObject(name, label, plural, customPrefix(s.nCustom), true)
			s.nCustom++
			addSystemFields(o, true)
			nf := lookup(required(fText("Name", label+" Name", 80)))
			o.addField(nf)
			s.add(o)
		}
		for _, raw := range spec.Fields {
			var fs fieldSpec
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&fs); err != nil {
				return fmt.Errorf("%s: object %s: field: %v", path, name, err)
			}
			f, err := fieldFromSpec(&fs)
			if err != nil {
				return fmt.Errorf("%s: object %s: %v", path, name, err)
			}
			o.addField(f)
		}
	}
	return nil
}

func fieldFromSpec(fs *fieldSpec) (*Field, error) {
	if fs.Name == "" {
		return nil, fmt.Errorf("field without name")
	}
	typ := strings.ToLower(fs.Type)
	if typ == "" {
		typ = "string"
	}
	if !knownTypes[typ] {
		return nil, fmt.Errorf("field %s: unknown type %q", fs.Name, fs.Type)
	}
	f := &Field{Name: fs.Name, Label: fs.Label, Type: typ, Custom: strings.HasSuffix(fs.Name, "__c")}
	if f.Label == "" {
		f.Label = strings.ReplaceAll(strings.TrimSuffix(fs.Name, "__c"), "_", " ")
	}
	defLen := 0
	switch typ {
	case "string", "email", "phone", "combobox":
		defLen = 255
		if typ == "email" {
			defLen = 80
		}
		if typ == "phone" {
			defLen = 40
		}
	case "picklist", "multipicklist", "url":
		defLen = 255
	case "textarea":
		defLen = 32768
	case "id", "reference":
		defLen = 18
	}
	f.Length = intOr(fs.Length, defLen)
	switch typ {
	case "double", "currency", "percent":
		f.Precision = intOr(fs.Precision, 18)
		f.Scale = intOr(fs.Scale, 2)
		if typ == "double" && fs.Scale == nil {
			f.Scale = 0
		}
	case "int":
		f.Digits = intOr(fs.Digits, intOr(fs.Precision, 9))
	case "long":
		f.Digits = intOr(fs.Digits, 18)
	}
	isBool := typ == "boolean"
	f.ExternalId = boolOr(fs.ExternalId, false)
	f.Unique = boolOr(fs.Unique, false)
	f.IdLookup = boolOr(fs.IdLookup, f.ExternalId || f.Unique)
	f.CaseSensitive = boolOr(fs.CaseSensitive, false)
	f.Nillable = boolOr(fs.Nillable, !isBool)
	f.Createable = boolOr(fs.Createable, true)
	f.Updateable = boolOr(fs.Updateable, true)
	f.DefaultedOnCreate = boolOr(fs.DefaultedOnCreate, isBool || fs.DefaultValue != nil)
	f.RestrictedPicklist = boolOr(fs.RestrictedPicklist, false)
	f.ReferenceTo = fs.ReferenceTo
	f.RelationshipName = fs.RelationshipName
	f.DefaultValue = fs.DefaultValue
	if isBool && f.DefaultValue == nil {
		f.DefaultValue = false
	}
	if typ == "reference" && f.RelationshipName == "" {
		if strings.HasSuffix(f.Name, "__c") {
			f.RelationshipName = strings.TrimSuffix(f.Name, "__c") + "__r"
		} else if strings.HasSuffix(f.Name, "Id") {
			f.RelationshipName = strings.TrimSuffix(f.Name, "Id")
		}
	}
	if len(fs.PicklistValues) > 0 && string(fs.PicklistValues) != "null" {
		// Accept plain strings or describe-shaped objects.
		var plain []string
		if json.Unmarshal(fs.PicklistValues, &plain) == nil {
			for _, v := range plain {
				f.PicklistValues = append(f.PicklistValues, PicklistValue{Active: true, Label: v, Value: v})
			}
		} else {
			var full []PicklistValue
			if err := json.Unmarshal(fs.PicklistValues, &full); err != nil {
				return nil, fmt.Errorf("field %s: picklistValues: %v", fs.Name, err)
			}
			for i := range full {
				if full[i].Label == "" {
					full[i].Label = full[i].Value
				}
			}
			f.PicklistValues = full
		}
	}
	return f, nil
}
