import { crashScenario } from "./scenario.js";

crashScenario("raft");
