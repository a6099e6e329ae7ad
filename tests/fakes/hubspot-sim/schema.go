package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Option is one enumeration option; writes use Value.
type Option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// Property is one CRM property, in the Properties API's field names.
type Property struct {
	Name           string   `json:"name"`
	Label          string   `json:"label"`
	Type           string   `json:"type"`      // string number date datetime enumeration bool phone_number
	FieldType      string   `json:"fieldType"` // text number date select checkbox booleancheckbox ...
	Description    string   `json:"description"`
	GroupName      string   `json:"groupName"`
	Options        []Option `json:"options"`
	HasUniqueValue bool     `json:"hasUniqueValue"`
	Calculated     bool     `json:"calculated"`
	ReadOnly       bool     `json:"readOnly,omitempty"` // schema file only: readOnlyValue
	HubspotDefined bool     `json:"hubspotDefined"`
}

// ObjectType is a standard or custom object.
type ObjectType struct {
	Name     string // contacts, companies, deals, tickets, or the custom object's name
	TypeID   string // 0-1, 0-2, 0-3, 0-5, 2-N
	Singular string // CONTACT, COMPANY, ... (messages)
	Props    map[string]*Property
	order    []string
}

func (o *ObjectType) add(p *Property) {
	if p.Label == "" {
		p.Label = p.Name
	}
	if p.GroupName == "" {
		p.GroupName = strings.TrimSuffix(o.Name, "s") + "information"
	}
	if p.FieldType == "" {
		p.FieldType = map[string]string{"string": "text", "number": "number", "date": "date", "datetime": "date",
			"enumeration": "select", "bool": "booleancheckbox", "phone_number": "phonenumber"}[p.Type]
	}
	if p.Options == nil {
		p.Options = []Option{}
	}
	if p.Type == "bool" && len(p.Options) == 0 {
		p.Options = []Option{{Label: "Yes", Value: "true"}, {Label: "No", Value: "false", DisplayOrder: 1}}
	}
	if _, ok := o.Props[p.Name]; !ok {
		o.order = append(o.order, p.Name)
	}
	o.Props[p.Name] = p
}

// readOnly is true for values the API rejects on write.
func (p *Property) readOnly() bool { return p.ReadOnly || p.Calculated }

// propertyJSON renders p as the Properties API does.
func (p *Property) propertyJSON() map[string]any {
	return map[string]any{
		"name": p.Name, "label": p.Label, "type": p.Type, "fieldType": p.FieldType, "description": p.Description,
		"groupName": p.GroupName, "options": p.Options, "hasUniqueValue": p.HasUniqueValue, "calculated": p.Calculated,
		"hubspotDefined": p.HubspotDefined, "hidden": false, "archived": false, "displayOrder": -1, "formField": !p.readOnly(),
		"externalOptions": false, "createdAt": "2020-01-01T00:00:00Z", "updatedAt": "2020-01-01T00:00:00Z",
		"modificationMetadata": map[string]any{"readOnlyValue": p.readOnly(), "readOnlyDefinition": p.HubspotDefined,
			"archivable": !p.HubspotDefined},
	}
}

// Schema holds the object types, found by name or type id.
type Schema struct {
	byKey map[string]*ObjectType
	list  []*ObjectType
}

func (s *Schema) object(key string) *ObjectType { return s.byKey[strings.ToLower(key)] }

func (s *Schema) addObject(o *ObjectType) {
	s.byKey[strings.ToLower(o.Name)] = o
	s.byKey[o.TypeID] = o
	s.list = append(s.list, o)
}

func opts(values ...string) []Option {
	out := make([]Option, len(values))
	for i, v := range values {
		out[i] = Option{Label: v, Value: v, DisplayOrder: i}
	}
	return out
}

func newObject(name, typeID, singular string) *ObjectType {
	o := &ObjectType{Name: name, TypeID: typeID, Singular: singular, Props: map[string]*Property{}}
	for _, p := range []*Property{
		{Name: "hs_object_id", Label: "Record ID", Type: "number", ReadOnly: true},
		{Name: "createdate", Label: "Create Date", Type: "datetime", ReadOnly: true},
		{Name: "hs_lastmodifieddate", Label: "Last Modified Date", Type: "datetime", ReadOnly: true},
	} {
		p.HubspotDefined = true
		o.add(p)
	}
	return o
}

func defaultSchema() *Schema {
	s := &Schema{byKey: map[string]*ObjectType{}}
	std := func(o *ObjectType, props ...*Property) {
		for _, p := range props {
			p.HubspotDefined = true
			o.add(p)
		}
		s.addObject(o)
	}
	c := newObject("contacts", "0-1", "CONTACT")
	std(c,
		&Property{Name: "email", Label: "Email", Type: "string"},
		&Property{Name: "firstname", Label: "First Name", Type: "string"},
		&Property{Name: "lastname", Label: "Last Name", Type: "string"},
		&Property{Name: "phone", Label: "Phone Number", Type: "string", FieldType: "phonenumber"},
		&Property{Name: "company", Label: "Company Name", Type: "string"},
		&Property{Name: "jobtitle", Label: "Job Title", Type: "string"},
		&Property{Name: "city", Label: "City", Type: "string"},
		&Property{Name: "website", Label: "Website URL", Type: "string"},
		&Property{Name: "date_of_birth", Label: "Date of birth", Type: "date"},
		&Property{Name: "lifecyclestage", Label: "Lifecycle Stage", Type: "enumeration", FieldType: "radio",
			Options: opts("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist", "other")},
		&Property{Name: "hs_email_optout", Label: "Unsubscribed from all email", Type: "bool"},
		&Property{Name: "lastmodifieddate", Label: "Last Modified Date", Type: "datetime", ReadOnly: true},
		&Property{Name: "hubspotscore", Label: "HubSpot Score", Type: "number", ReadOnly: true},
		&Property{Name: "num_associated_deals", Label: "Number of Associated Deals", Type: "number", Calculated: true,
			FieldType: "calculation_rollup"},
	)
	co := newObject("companies", "0-2", "COMPANY")
	std(co,
		&Property{Name: "name", Label: "Company name", Type: "string"},
		&Property{Name: "domain", Label: "Company Domain Name", Type: "string"},
		&Property{Name: "industry", Label: "Industry", Type: "string"},
		&Property{Name: "city", Label: "City", Type: "string"},
		&Property{Name: "phone", Label: "Phone Number", Type: "string", FieldType: "phonenumber"},
		&Property{Name: "numberofemployees", Label: "Number of Employees", Type: "number"},
		&Property{Name: "annualrevenue", Label: "Annual Revenue", Type: "number"},
		&Property{Name: "is_public", Label: "Is Public", Type: "bool"},
	)
	d := newObject("deals", "0-3", "DEAL")
	std(d,
		&Property{Name: "dealname", Label: "Deal Name", Type: "string"},
		&Property{Name: "amount", Label: "Amount", Type: "number"},
		&Property{Name: "dealstage", Label: "Deal Stage", Type: "enumeration",
			Options: opts("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost")},
		&Property{Name: "pipeline", Label: "Pipeline", Type: "enumeration", Options: opts("default")},
		&Property{Name: "closedate", Label: "Close Date", Type: "datetime"},
	)
	t := newObject("tickets", "0-5", "TICKET")
	std(t,
		&Property{Name: "subject", Label: "Ticket name", Type: "string"},
		&Property{Name: "content", Label: "Ticket description", Type: "string", FieldType: "textarea"},
		&Property{Name: "hs_pipeline", Label: "Pipeline", Type: "enumeration", Options: opts("0")},
		&Property{Name: "hs_pipeline_stage", Label: "Ticket status", Type: "enumeration", Options: opts("1", "2", "3", "4")},
		&Property{Name: "hs_ticket_priority", Label: "Priority", Type: "enumeration", Options: opts("LOW", "MEDIUM", "HIGH", "URGENT")},
	)
	return s
}

// schemaFile is the --schema format:
//
//	{"objects": {"contacts": {"properties": [{"name": "external_id", "type": "string", "hasUniqueValue": true}]},
//	             "2-1234567": {"name": "warehouses", "properties": [...]}}}
type schemaFile struct {
	Objects map[string]struct {
		Name       string     `json:"name"`
		Properties []Property `json:"properties"`
	} `json:"objects"`
}

var validTypes = map[string]bool{"string": true, "number": true, "date": true, "datetime": true,
	"enumeration": true, "bool": true, "phone_number": true}

func loadSchemaFile(s *Schema, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var f schemaFile
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	keys := make([]string, 0, len(f.Objects))
	for k := range f.Objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		def := f.Objects[k]
		o := s.object(k)
		if o == nil {
			if !strings.HasPrefix(k, "2-") {
				return fmt.Errorf("%s: object %q: not a standard object; custom objects are keyed by their type id (2-N)", path, k)
			}
			if def.Name == "" {
				return fmt.Errorf("%s: custom object %s needs a name", path, k)
			}
			o = newObject(strings.ToLower(def.Name), k, strings.ToUpper(strings.TrimSuffix(def.Name, "s")))
			s.addObject(o)
		}
		for i := range def.Properties {
			p := def.Properties[i]
			if p.Name == "" || !validTypes[p.Type] {
				return fmt.Errorf("%s: %s.properties[%d]: needs a name and a type (string number date datetime enumeration bool phone_number)", path, k, i)
			}
			o.add(&p)
		}
	}
	return nil
}

// uniqueProps are the properties whose values are kept unique (email on contacts too).
func (o *ObjectType) uniqueProps() []string {
	var out []string
	for _, n := range o.order {
		p := o.Props[n]
		if (p.HasUniqueValue || (o.TypeID == "0-1" && n == "email")) && n != "hs_object_id" {
			out = append(out, n)
		}
	}
	return out
}
