# Joint forward plan walkthrough for deploy/loopback-ics.sh (sourced by it):
# the partners register the people who act for them and adopt their scheme
# of reservation and delegation; the ICB drafts a joint forward plan; trusts
# amend it (one amendment conflicts and is refused with advice to rebase);
# the plan goes out to consultation, the health and wellbeing board giving
# its statutory opinion; the board votes (a member with a declared interest
# is excluded) and adopts it; the adopted plan is published as Markdown, and
# the public register as a static website.
#
# Uses loopback-ics.sh's helpers and variables: say, ctl ORG ..., $icsctl,
# $dir, $top. The consultation runs for seconds, not weeks, so the demo is
# quick: the leader ticks the log's clock when a deadline is due.

# Shows and runs an icsctl command as organisation ORG in group nenc.
pctl() {
    local org=$1
    shift
    printf '\033[2m$ icsctl -c %s.conf %s\033[0m\n' "$org" "$*" >&2
    ctl "$org" --group nenc "$@"
}

# The same for a command that must be refused: the walkthrough stops if it
# is accepted.
pctl_refused() {
    if pctl "$@"; then
        echo "walkthrough: that should have been refused" >&2
        return 1
    fi
    return 0
}

# Runs a submission, shows its output, and prints the number it created
# ("amendment 57 proposed", "motion 63: ...").
pctl_id() {
    local out
    out=$(pctl "$@") || { printf '%s\n' "$out" >&2; return 1; }
    printf '%s\n' "$out" >&2
    printf '%s\n' "$out" | sed -n 's/^amendment \([0-9][0-9]*\) proposed.*/\1/p;
                                   s/^  motion \([0-9][0-9]*\): .*/\1/p' | head -1
}

# Waits up to 60 s for a query's output to match a pattern.
pwait() {
    local pattern=$1
    shift
    for _ in $(seq 300); do
        ctl "$@" 2>/dev/null | grep -q -- "$pattern" && return 0
        sleep 0.2
    done
    echo "walkthrough: timed out waiting for '$pattern' from: $*" >&2
    return 1
}

walkthrough_plans() {
    local m a_rtd a_rx6 a_rx4 a_rebased c adopt

    say "Plans: each partner registers the people who act for it"
    echo "  Each person makes their own key; their organisation's administrator (its"
    echo "  first person) registers it, and every later action of theirs carries their"
    echo "  signature:"
    person QHM nenc sir.liam "Sir Liam Donaldson" "Chair"
    person QHM nenc sam.allen "Samantha Allen" "Chief Executive"
    person QHM nenc fiona.d "Fiona Dawson" "Director of Finance"
    person QHM nenc ned.one "Ken Bremner" "Non-executive member"
    person QHM nenc ned.two "Hilary Reid" "Non-executive member"
    person QHM nenc dr.strat "Jacqueline Myers" "Director of Strategy and Transformation"
    person RTD nenc dr.amina.khan "Dr Amina Khan" "Medical Director"
    person RX4 nenc prof.mh "Prof Rajesh Nadkarni" "Medical Director"
    person RX6 nenc ops.lead "Stephen Segasby" "Director of Operations"
    person E06000057 nenc cllr.peter.hall "Cllr Peter Hall" "Cabinet member for adult social care"
    echo "  The ICB appoints its board, including partner members nominated by the trusts"
    echo "  and the local authorities:"
    pctl QHM people role QHM/sir.liam chair
    pctl QHM people role QHM/sam.allen chief_executive
    pctl QHM people role QHM/fiona.d finance_director
    pctl QHM people role QHM/ned.one non_executive
    pctl QHM people role QHM/ned.two non_executive
    pctl QHM people role RTD/dr.amina.khan partner_trust
    pctl QHM people role E06000057/cllr.peter.hall partner_local_authority
    echo "  A trust cannot appoint to the ICB's board:"
    pctl_refused RTD people role RTD/dr.amina.khan chair

    if ctl QHM --group nenc --json policy show | grep -q '"source":"default"'; then
        say "The group started with the built-in scheme; the board adopts NENC's own"
        pctl QHM policy show | sed -n '1,16p'
        echo "  ..."
        m=$(pctl_id QHM --as sir.liam policy propose-change \
            "$top/deploy/examples/nenc-policy.ini" \
            --text "The ICB's scheme of reservation and delegation, as approved by the board")
        pctl QHM --as sir.liam vote "$m" for
        pctl RTD --as dr.amina.khan vote "$m" for
        pctl E06000057 --as cllr.peter.hall vote "$m" for
        pctl QHM --as sam.allen vote "$m" for --reason "Matches the constitution"
        echo "  Two thirds of the seven members must vote, and two thirds of the votes be for:"
        pctl QHM --as ned.one vote "$m" for
    fi
    say "Who decides what: the scheme in force, as the public reads it"
    pctl QHM policy show | sed -n '1,40p'
    echo "  ... (icsctl policy show prints every decision, body and role)"

    say "Officers, a member with mental-health expertise, and the health and wellbeing board"
    pctl QHM people role QHM/dr.strat strategy_director
    pctl QHM people role RX4/prof.mh mental_health_member
    pctl E06000057 people org add HWB-E06000057 --kind hwb \
        --name "Northumberland Health and Wellbeing Board" --parent E06000057
    pctl E06000057 people role E06000057/cllr.peter.hall hwb_chair --scope HWB-E06000057
    pctl QHM --as ned.two people interest plan:jfp-2026 \
        --description "Chairs a provider collaborative bidding for the plan's virtual ward contracts"
    pctl QHM people list

    say "The ICB drafts the joint forward plan 2026/27-2030/31"
    cat > "$dir/jfp-draft.md" <<'PLAN'
## intro Introduction
The NHS North East and North Cumbria ICB and its partner trusts set out how
they will meet the health needs of three million people over five years.

This plan takes account of every joint local health and wellbeing strategy
in our area.
## urgent-care Urgent and emergency care
Reduce ambulance handover delays at every acute site.

Expand same-day emergency care at the RVI and Northumbria.
## finance Finance
Return the system to financial balance by 2027/28.
PLAN
    pctl QHM --as dr.strat plan create jfp-2026 --title "Joint Forward Plan 2026/27 to 2030/31" \
        --period 2026/27-2030/31 --from "$dir/jfp-draft.md"
    pctl QHM plan show jfp-2026

    say "Partners amend it: two trusts change the same section, the other adds one"
    a_rtd=$(pctl_id RTD --as dr.amina.khan amend propose jfp-2026 --base 1 --op replace \
        --section urgent-care --text "Handover within 30 minutes of arrival at every acute site.

Expand same-day emergency care at the RVI and Northumbria." \
        --rationale "The 30-minute standard agreed with NEAS")
    a_rx6=$(pctl_id RX6 --as ops.lead amend propose jfp-2026 --base 1 --op insert \
        --section urgent-care --text "Hear and treat for one call in five." \
        --rationale "Fewer conveyances")
    a_rx4=$(pctl_id RX4 --as prof.mh amend propose jfp-2026 --base 1 --op add \
        --section mental-health --title "Mental health" --after urgent-care \
        --text "A crisis service for all ages, available around the clock." \
        --rationale "Parity of esteem")
    echo "  The scheme delegates accepting amendments to the Director of Strategy, who"
    echo "  decides by proposing:"
    pctl QHM --as dr.strat amend accept "$a_rtd"
    echo "  NEAS's amendment was drafted against version 1, whose urgent-care section has"
    echo "  since changed: it is superseded, and proposing it again is refused with advice:"
    pctl QHM amend list jfp-2026
    pctl_refused RX6 --as ops.lead amend propose jfp-2026 --base 1 --op insert \
        --section urgent-care --text "Hear and treat for one call in five." \
        --rationale "Fewer conveyances"
    pctl QHM plan diff jfp-2026 1 2
    a_rebased=$(pctl_id RX6 --as ops.lead amend propose jfp-2026 --base 2 --op insert \
        --section urgent-care --text "Hear and treat for one call in five." \
        --rationale "Fewer conveyances (rebased on version 2)")
    pctl QHM --as dr.strat amend accept "$a_rx4"
    pctl QHM --as dr.strat amend accept "$a_rebased"
    pctl QHM plan history jfp-2026
    pctl QHM plan diff jfp-2026 1 4

    say "Consultation on version 4: the HWB, the trusts and the council, for a few seconds"
    c=$(pctl_id QHM --as sam.allen consult open jfp-2026 4 --closes +25s \
        --consultees "kind:hwb RTD RX4 RX6 E06000057" \
        --question "Does the draft plan meet the needs of your population, and what would you change?")
    pctl RTD --as dr.amina.khan consult respond "$c" --position support \
        --text "The urgent care commitments match our bed base plan."
    pctl RX4 --as prof.mh consult respond "$c" --position support-with-changes \
        --text "Add a crisis response standard for children and young people."
    pctl RX6 --as ops.lead consult respond "$c" --position support-with-changes \
        --text "Hear and treat needs clinical hub funding." --amendments "$a_rebased"
    echo "  The health and wellbeing board gives its statutory opinion, through its chair:"
    pctl E06000057 --as cllr.peter.hall consult respond "$c" --for HWB-E06000057 \
        --position support --hwb-opinion yes \
        --hwb-reasons "The plan reflects our strategy's priorities: healthy ageing, mental health and tackling inequalities." \
        --text "The board welcomes the plan."
    echo "  NEAS revises its response before the deadline:"
    pctl RX6 --as ops.lead consult respond "$c" --position support \
        --text "Hear and treat is now funded."
    pctl QHM consult show "$c" | sed -n '1,3p'
    echo "  ... waiting for the deadline (the log's clock, ticked by the leader)"
    pwait '"status":"closed"' QHM --group nenc --json consult show "$c"
    echo "  A response after closing is refused, with the closing time:"
    pctl_refused E06000057 --as cllr.peter.hall consult respond "$c" --position object \
        --text "Too late."
    pctl QHM consult summary "$c"

    say "The board votes to adopt version 4; a member with a declared interest is excluded"
    adopt=$(pctl_id QHM --as sir.liam plan adopt jfp-2026 4 \
        --text "Adopt the joint forward plan after consultation")
    pctl_refused QHM --as ned.two vote "$adopt" for
    pctl QHM --as sir.liam vote "$adopt" for --reason "A plan the partners own"
    pctl RTD --as dr.amina.khan vote "$adopt" for
    pctl E06000057 --as cllr.peter.hall vote "$adopt" for
    pctl_refused E06000057 --as cllr.peter.hall vote "$adopt" for
    pctl QHM --as sam.allen vote "$adopt" for
    pctl QHM motion show "$adopt"

    say "Publish the adopted plan, with the HWB's opinion and the decision record"
    # Another organisation's node publishes: it reads once it has applied
    # the deciding vote (a read as fresh as the group's commit).
    pwait 'carried' E06000057 --group nenc --fresh motion show "$adopt"
    pctl E06000057 plan publish jfp-2026 --out "$dir/jfp-2026.md"
    sed -n '1,12p' "$dir/jfp-2026.md"
    echo "  ..."
    sed -n '/^## Opinions of health and wellbeing boards/,$p' "$dir/jfp-2026.md"
    echo "  The votes cited are signed entries of the log; anyone with an export can check them:"
    pctl RX4 log export "$dir/nenc-log-plans.txt"
    run "$icsctl" log verify "$dir/nenc-log-plans.txt"

    say "The public register: plans, consultations and decisions as a static website"
    pctl E06000057 publish site "$dir/register"
    ls "$dir/register"
}
