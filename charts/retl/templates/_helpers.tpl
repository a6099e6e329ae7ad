{{- define "retl.labels" -}}
app.kubernetes.io/name: retl
app.kubernetes.io/component: controller
{{- end -}}

{{- define "retl.engineImage" -}}
{{- default .Values.image .Values.engineImage -}}
{{- end -}}

{{/* The rules of the controller: exactly the calls it makes (controller/). */}}
{{- define "retl.rules" -}}
- apiGroups: [retl.io]
  resources: [reverseetljobs]
  verbs: [get, list, watch, patch]
- apiGroups: [retl.io]
  resources: [reverseetljobs/status]
  verbs: [update]
- apiGroups: [retl.io]
  resources: [reverseetljobs/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
