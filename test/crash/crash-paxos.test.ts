import { crashScenario } from "./scenario.js";

crashScenario("paxos");
