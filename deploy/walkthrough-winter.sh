# Winter pressure walkthrough for deploy/loopback-ics.sh (sourced by it):
# an acute trust goes to OPEL 4 and asks for beds, nurses and discharge
# packages; partners offer; the trust accepts (an offer is accepted once);
# the beds request is escalated to the regional group and met there; aid is
# delivered and handed back; and `aid board` shows the system picture.
#
# Uses loopback-ics.sh's helpers and variables: say, ctl ORG ..., $icsctl,
# $dir. Times are short (minutes, not hours) so the demo runs quickly.

# Shows and runs an icsctl command as organisation ORG.
wctl() {
    local org=$1
    shift
    printf '\033[2m$ icsctl -c %s.conf %s\033[0m\n' "$org" "$*" >&2
    ctl "$org" "$@"
}

# The same, for a command that creates a request or an offer: shows its
# output on stderr and prints the id it was given ("request 42 raised").
wctl_id() {
    local out
    out=$(wctl "$@") || { printf '%s\n' "$out" >&2; return 1; }
    printf '%s\n' "$out" >&2
    printf '%s\n' "$out" | sed -n 's/^\(request\|offer\) \([0-9][0-9]*\) .*/\2/p'
}

# Waits up to 20 s for a command's output to match a pattern.
wait_for() {
    local pattern=$1
    shift
    for _ in $(seq 100); do
        "$@" 2>/dev/null | grep -q -- "$pattern" && return 0
        sleep 0.2
    done
    echo "walkthrough: timed out waiting for '$pattern' from: $*" >&2
    return 1
}

# The ne-region request that mirrors nenc request $1.
mirror_of() {
    local id
    for id in $(ctl QHM --group ne-region aid list --status all | awk 'NR > 1 {print $1}'); do
        if ctl QHM --group ne-region --json aid show "$id" |
                grep -q "\"home_group\":\"nenc\",\"home_request\":$1,"; then
            echo "$id"
            return 0
        fi
    done
    return 1
}

walkthrough_winter() {
    local beds nurses packages o_rx4 o_rx6 o_la mirror o_qe1 region_leader

    say "Winter: the regional group ne-region (QHM, RX6, QE1, RX7) elects a leader"
    for _ in $(seq 100); do
        region_leader=$(ctl QE1 status 2>/dev/null |
                        sed -n 's/^group ne-region: .*leader \([A-Z0-9-]*\)$/\1/p')
        [ -n "$region_leader" ] && [ "$region_leader" != "(none)" ] && break
        sleep 0.2
    done
    echo "  ne-region leader: $region_leader (QHM and RX6 are in both groups;" \
         "their nenc sections say escalate_to = ne-region)"

    say "Winter: the people on duty make their own keys; their organisations register them"
    person RTD nenc site.director "Site Director" "Site Director"
    person RTD nenc discharge.lead "Discharge Lead" "Integrated Discharge Lead"
    person RX4 nenc bed.manager "Bed Manager" "Bed Manager"
    person RX4 nenc nursing.director "Director of Nursing" "Director of Nursing"
    person RX6 nenc duty.manager "Duty Manager" "Emergency Operations Centre Duty Manager"
    person RX6 nenc clinical.hub "Clinical Hub Lead" "Clinical Hub Lead"
    person E06000057 nenc asc.duty "Adult Social Care Duty Lead" "Adult Social Care"
    person QE1 ne-region director.on.call "Director on Call" "Director on Call"
    person QHM ne-region director.on.call "Director on Call" "Director on Call"

    say "Newcastle Hospitals (RTD) reports OPEL 4, with the parameters behind it"
    wctl RTD --as site.director opel set 4 --type acute \
        handover_mean_mins=95 handovers_over_60=14 ed_4h_pct=61 ed_12h_count=23 \
        ed_occupancy_pct=148 ga_occupancy_pct=99 nctr_count=140 critical_care_occupancy_pct=96 \
        --note "Escalation beds open; elective activity stood down"
    wctl RX4 --as bed.manager opel set 3 --type mental_health \
        mh_occupancy_pct=104 s136_count=6 out_of_area_count=11 mh_ed_12h_count=5
    wctl RX6 --group nenc --as duty.manager opel set 3 --type ambulance \
        cat2_mean_mins=58 handover_hours_lost=212 incidents_waiting=41 handovers_over_60=14
    wctl E06000057 --as asc.duty opel set 3 --type social_care \
        care_home_occupancy_pct=97 home_care_hours_unmet=1450 delayed_discharge_count=62
    wctl QHM --group nenc --fresh opel show

    say "RTD asks its partners for beds, nurses and discharge packages"
    beds=$(wctl_id RTD --as site.director aid request ga_beds 4 --urgency 4h \
        --site "RVI, Newcastle" --until +8h \
        --reason "OPEL 4: 23 patients over 12 hours in ED, G&A occupancy 99%" \
        --contact "Site director, 0191 000 0000")
    nurses=$(wctl_id RTD --as site.director aid request registered_nurses 4 --specialty ed \
        --urgency immediate --site "RVI emergency department" --until +12h \
        --reason "ED at 148% occupancy; 6 RN vacancies on the night shift" \
        --contact "ED nurse in charge, 0191 000 0001")
    packages=$(wctl_id RTD --as discharge.lead aid request discharge_packages 10 \
        --urgency 24h --site "Newcastle and Northumberland" \
        --reason "140 patients not meeting the criteria to reside" \
        --contact "Integrated discharge team, 0191 000 0002")

    say "Two partners offer nurses; the council offers packages"
    o_rx4=$(wctl_id RX4 --as nursing.director aid offer "$nurses" 2 --valid-until +2h \
        --conditions "Mental health liaison nurses, for patients in ED awaiting assessment")
    o_rx6=$(wctl_id RX6 --group nenc --as clinical.hub aid offer "$nurses" 2 \
        --conditions "Clinical hub nurses, 12-hour shifts from 19:00")
    o_la=$(wctl_id E06000057 --as asc.duty aid offer "$packages" 10 \
        --conditions "Discharge to assess, Northumberland residents")
    wctl RTD aid show "$nurses"

    say "RTD accepts; an offer is accepted once, and never beyond the need"
    wctl RTD --as site.director aid accept "$o_rx4"
    wctl RTD --as site.director aid accept "$o_rx6"
    wctl RTD --as site.director aid accept "$o_rx4" || true
    # 10 is the threshold of the built-in scheme of reservation and
    # delegation: more on one request would need its chief executive's
    # approval (icsctl aid approve).
    wctl RTD --as discharge.lead aid accept "$o_la"

    say "Nobody in the ICS has G&A beds: RTD escalates that request to the region"
    wctl RTD --as site.director aid escalate "$beds" --reason "No G&A capacity left in NENC"
    echo "  (QHM's node, in both groups, raises it in ne-region)"
    wait_for "RTD@nenc" ctl QHM --group ne-region aid list
    mirror=$(mirror_of "$beds")
    wctl QHM --group ne-region aid show "$mirror"

    say "In the region, Lancashire and South Cumbria ICB offers beds; the ICB accepts there"
    o_qe1=$(wctl_id QE1 --as director.on.call aid offer "$mirror" 4 \
        --conditions "Royal Lancaster Infirmary; NWAS to transfer" --valid-until +1h)
    wctl QHM --group ne-region --as director.on.call aid accept "$o_qe1"
    echo "  (the acceptance flows back to RTD's request in nenc)"
    wait_for '"status":"met"' ctl RTD --json aid show "$beds"
    wctl QHM --group ne-region aid board
    wctl RTD aid board

    say "Aid is delivered: nurses on shift, packages started, patients transferred"
    wctl RX4 aid deliver "$o_rx4"
    wctl RX6 --group nenc aid deliver "$o_rx6"
    wctl E06000057 aid deliver "$o_la"
    wctl QE1 aid deliver "$o_qe1" --note "4 patients transferred to RLI"
    wait_for '"in_use":4' ctl RTD --json aid show "$beds"
    wctl RTD aid board

    say "Pressure eases: RTD reports OPEL 3 and the aid is handed back"
    wctl RTD --as site.director opel set 3 --type acute \
        handover_mean_mins=41 ed_4h_pct=70 ed_12h_count=6 ga_occupancy_pct=95 nctr_count=118
    wctl RTD aid return "$o_rx4" --note "Released at 07:00"
    wctl RTD aid return "$o_rx6"
    wctl E06000057 aid return "$o_la" --note "Packages moved to long-term care"
    wctl QHM --group ne-region aid return "$o_qe1" --note "Patients repatriated"
    wait_for '"status":"completed"' ctl RTD --json aid show "$beds"
    wctl RTD aid show "$beds"
    wctl RTD aid list --status all
    wctl QHM --group nenc opel history -n 6
}
