# Shared by the bench scripts (source it): the admin API of the server at
# $URL with the admin token $TOKEN.

api() { curl -sS -f -H "Authorization: Bearer $TOKEN" "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
# pico RID: a new pico with RID installed; prints its ECI.
pico() {
  local made id
  made=$(api -H 'Content-Type: application/json' -d "{\"name\": \"$1\"}" "$URL/api/picos")
  id=$(echo "$made" | field id)
  api -H 'Content-Type: application/json' -d "{\"rid\": \"$1\"}" "$URL/api/picos/$id/rulesets" >/dev/null
  echo "$made" | field eci
}
