{{- define "rayop.name" -}}rayop{{- end -}}
{{- define "rayop.serviceAccountName" -}}
{{- if .Values.serviceAccount.name -}}{{ .Values.serviceAccount.name }}{{- else -}}{{ .Release.Name }}-rayop{{- end -}}
{{- end -}}
{{- define "rayop.labels" -}}
app.kubernetes.io/name: rayop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
